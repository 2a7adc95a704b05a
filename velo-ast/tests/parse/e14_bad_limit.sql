-- error
SELECT a FROM t LIMIT ten
