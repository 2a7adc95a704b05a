-- error
SELECT a FROM t WHERE (a > 1 GROUP BY a
