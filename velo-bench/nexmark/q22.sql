-- Nexmark q22: get URL directories. The first three directories of each bid's
-- URL. Flink's SPLIT_INDEX counts from 0, SPLIT_PART from 1.
CREATE STREAM nexmark_q22 AS
SELECT
    auction, bidder, price, channel,
    SPLIT_PART(url, '/', 4) AS dir1,
    SPLIT_PART(url, '/', 5) AS dir2,
    SPLIT_PART(url, '/', 6) AS dir3
FROM bid
WITH (
    'bid.type' = 'nexmark_source', 'bid.nexmark.table' = 'bid', 'bid.nexmark.events' = '1000000',
    'nexmark_q22.type' = 'file_sink', 'nexmark_q22.path' = 'output/q22.jsonl', 'nexmark_q22.format' = 'jsonl'
);
