-- Nexmark q2: selection. The bids on every 123rd auction.
CREATE STREAM nexmark_q2 AS
SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0
WITH (
    'bid.type' = 'nexmark_source', 'bid.nexmark.table' = 'bid', 'bid.nexmark.events' = '1000000',
    'nexmark_q2.type' = 'file_sink', 'nexmark_q2.path' = 'output/q2.jsonl', 'nexmark_q2.format' = 'jsonl'
);
