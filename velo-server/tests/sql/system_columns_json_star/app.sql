-- `*` leaves the appended system columns out; naming one selects it.
SELECT *, _offset FROM events WHERE _partition = 0
WITH ('events.type' = 'file_source', 'events.path' = 'events.jsonl', 'events.format' = 'jsonl');
