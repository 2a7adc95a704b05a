-- A filter over a subquery's projection (b) is the flat query (a).
CREATE STREAM a AS
SELECT symbol, qty * 2 AS doubled FROM trades WHERE qty > 3 AND symbol <> 'MSFT'
WITH ('a.type' = 'file_sink', 'a.path' = 'a.jsonl');
CREATE STREAM b AS
SELECT t.symbol, doubled FROM (SELECT symbol, qty * 2 AS doubled, qty FROM trades WHERE qty > 3) AS t
WHERE t.symbol <> 'MSFT'
WITH ('trades.type' = 'file_source', 'trades.path' = 'trades.csv', 'b.type' = 'file_sink', 'b.path' = 'b.jsonl');
