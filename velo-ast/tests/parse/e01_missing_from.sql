-- error
SELECT a, b
WHERE a > 1
