-- Nexmark q21: add channel id. Flink's text takes the id from the URL with
-- REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2); Velo has no regular
-- expressions yet, and SPLIT_PART on '&channel_id=' takes the same text from
-- the generator's URLs (the id is their last parameter), NULL where there is none.
CREATE STREAM nexmark_q21 AS
SELECT
    auction, bidder, price, channel,
    CASE
        WHEN lower(channel) = 'apple' THEN '0'
        WHEN lower(channel) = 'google' THEN '1'
        WHEN lower(channel) = 'facebook' THEN '2'
        WHEN lower(channel) = 'baidu' THEN '3'
        ELSE NULLIF(SPLIT_PART(url, '&channel_id=', 2), '')
    END AS channel_id
FROM bid
WHERE NULLIF(SPLIT_PART(url, '&channel_id=', 2), '') IS NOT NULL
   OR lower(channel) IN ('apple', 'google', 'facebook', 'baidu')
WITH (
    'bid.type' = 'nexmark_source', 'bid.nexmark.table' = 'bid', 'bid.nexmark.events' = '1000000',
    'nexmark_q21.type' = 'file_sink', 'nexmark_q21.path' = 'output/q21.jsonl', 'nexmark_q21.format' = 'jsonl'
);
