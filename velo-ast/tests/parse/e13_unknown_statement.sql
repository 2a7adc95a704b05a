-- error
DELETE FROM t
