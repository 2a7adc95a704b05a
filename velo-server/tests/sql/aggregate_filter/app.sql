-- FILTER (WHERE ...) on aggregates: each counts, sums or distinct-counts only
-- the rows that pass; a SUM no row passed is NULL, a COUNT 0.
SELECT k,
       COUNT(*) FILTER (WHERE price >= 10) AS big,
       COUNT(price) FILTER (WHERE price < 10) AS small,
       SUM(price) FILTER (WHERE price >= 10) AS big_sum,
       COUNT(DISTINCT who) FILTER (WHERE price >= 5) AS buyers,
       MAX(price) FILTER (WHERE who = 'x') AS top_x
FROM t GROUP BY k EMIT FINAL
WITH ('t.type' = 'file_source', 't.path' = 'in.csv');
