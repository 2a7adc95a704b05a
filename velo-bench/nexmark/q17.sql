-- Nexmark q17: auction statistics report. Bids per auction and day, and their
-- prices. Flink's avg of a BIGINT is a BIGINT: the CAST keeps that type.
CREATE STREAM nexmark_q17 AS
SELECT
     auction,
     DATE_FORMAT(date_time, 'yyyy-MM-dd') AS day,
     count(*) AS total_bids,
     count(*) FILTER (WHERE price < 10000) AS rank1_bids,
     count(*) FILTER (WHERE price >= 10000 AND price < 1000000) AS rank2_bids,
     count(*) FILTER (WHERE price >= 1000000) AS rank3_bids,
     min(price) AS min_price,
     max(price) AS max_price,
     CAST(avg(price) AS BIGINT) AS avg_price,
     sum(price) AS sum_price
FROM bid
GROUP BY auction, DATE_FORMAT(date_time, 'yyyy-MM-dd')
WITH (
    'bid.type' = 'nexmark_source', 'bid.nexmark.table' = 'bid', 'bid.nexmark.events' = '1000000',
    'nexmark_q17.type' = 'file_sink', 'nexmark_q17.path' = 'output/q17.jsonl', 'nexmark_q17.format' = 'jsonl'
);
