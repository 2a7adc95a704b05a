-- error
SELECT a FROM t LIMIT 5 WHERE a > 1
