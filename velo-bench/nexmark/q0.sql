-- Nexmark q0: pass-through. Measures the cost of reading and writing events.
CREATE STREAM nexmark_q0 AS
SELECT auction, bidder, price, date_time, extra FROM bid
WITH (
    'bid.type' = 'nexmark_source', 'bid.nexmark.table' = 'bid', 'bid.nexmark.events' = '1000000',
    'nexmark_q0.type' = 'file_sink', 'nexmark_q0.path' = 'output/q0.jsonl', 'nexmark_q0.format' = 'jsonl'
);
