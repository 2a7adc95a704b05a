-- Nexmark q21: add channel id. Flink's text, with its REGEXP_EXTRACT.
CREATE STREAM nexmark_q21 AS
SELECT
    auction, bidder, price, channel,
    CASE
        WHEN lower(channel) = 'apple' THEN '0'
        WHEN lower(channel) = 'google' THEN '1'
        WHEN lower(channel) = 'facebook' THEN '2'
        WHEN lower(channel) = 'baidu' THEN '3'
        ELSE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2)
    END AS channel_id
FROM bid
WHERE REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) IS NOT NULL
   OR lower(channel) IN ('apple', 'google', 'facebook', 'baidu')
WITH (
    'bid.type' = 'nexmark_source', 'bid.nexmark.table' = 'bid', 'bid.nexmark.events' = '1000000',
    'nexmark_q21.type' = 'file_sink', 'nexmark_q21.path' = 'output/q21.jsonl', 'nexmark_q21.format' = 'jsonl'
);
