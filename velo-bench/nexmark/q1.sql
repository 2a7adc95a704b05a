-- Nexmark q1: currency conversion. Each bid's price in euros.
CREATE STREAM nexmark_q1 AS
SELECT auction, bidder, 0.908 * price AS price, date_time, extra FROM bid
WITH (
    'bid.type' = 'nexmark_source', 'bid.nexmark.table' = 'bid', 'bid.nexmark.events' = '1000000',
    'nexmark_q1.type' = 'file_sink', 'nexmark_q1.path' = 'output/q1.jsonl', 'nexmark_q1.format' = 'jsonl'
);
