-- error
SELECT a FROM t WHERE name = 'abc
