-- Nexmark q14: calculation. Bids in a price range, with the time of day and
-- the count of 'c' in extra (Flink's count_char UDF, written with REPLACE).
CREATE STREAM nexmark_q14 AS
SELECT
    auction,
    bidder,
    0.908 * price AS price,
    CASE
        WHEN HOUR(date_time) >= 8 AND HOUR(date_time) <= 18 THEN 'dayTime'
        WHEN HOUR(date_time) <= 6 OR HOUR(date_time) >= 20 THEN 'nightTime'
        ELSE 'otherTime'
    END AS bidTimeType,
    date_time,
    extra,
    LENGTH(extra) - LENGTH(REPLACE(extra, 'c', '')) AS c_counts
FROM bid
WHERE 0.908 * price > 1000000 AND 0.908 * price < 50000000
WITH (
    'bid.type' = 'nexmark_source', 'bid.nexmark.table' = 'bid', 'bid.nexmark.events' = '1000000',
    'nexmark_q14.type' = 'file_sink', 'nexmark_q14.path' = 'output/q14.jsonl', 'nexmark_q14.format' = 'jsonl'
);
