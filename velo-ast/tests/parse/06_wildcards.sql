SELECT *, t.*, t.a FROM trades t
