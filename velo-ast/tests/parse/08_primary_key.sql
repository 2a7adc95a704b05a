CREATE STREAM keyed AS
SELECT symbol AS sym PRIMARY KEY, region PRIMARY KEY, SUM(quantity) AS volume
FROM trades
GROUP BY symbol, region
