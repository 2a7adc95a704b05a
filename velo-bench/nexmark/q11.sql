-- Nexmark q11: user sessions. How many bids each user made in each session
-- (a gap of 10 seconds ends it). Flink's text uses the group-window spelling
-- GROUP BY B.bidder, SESSION(B.dateTime, INTERVAL '10' SECOND); this is its
-- window-function form.
CREATE STREAM nexmark_q11 AS
SELECT B.bidder, count(*) AS bid_count, B.window_start AS starttime, B.window_end AS endtime
FROM TABLE(SESSION(TABLE bid PARTITION BY bidder, DESCRIPTOR(date_time), INTERVAL '10' SECOND)) B
GROUP BY B.bidder, B.window_start, B.window_end
WITH (
    'bid.type' = 'nexmark_source', 'bid.nexmark.table' = 'bid', 'bid.nexmark.events' = '1000000',
    'nexmark_q11.type' = 'file_sink', 'nexmark_q11.path' = 'output/q11.jsonl', 'nexmark_q11.format' = 'jsonl'
);
