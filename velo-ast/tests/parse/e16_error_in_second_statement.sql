-- error
SELECT a FROM t;

SELECT a,
FROM t;
