-- Nexmark q20: expand bid with auction. The bids with their auction's
-- details, for auctions in category 10: a regular join of two streams.
CREATE STREAM nexmark_q20 AS
SELECT
    auction, bidder, price, channel, url, B.date_time AS bid_date_time, B.extra AS bid_extra,
    item_name, description, initial_bid, reserve, A.date_time AS auction_date_time, expires,
    seller, category, A.extra AS auction_extra
FROM bid AS B INNER JOIN auction AS A ON B.auction = A.id
WHERE A.category = 10
WITH (
    'bid.type' = 'nexmark_source', 'bid.nexmark.table' = 'bid', 'bid.nexmark.events' = '1000000',
    'auction.type' = 'nexmark_source', 'auction.nexmark.table' = 'auction', 'auction.nexmark.events' = '1000000',
    'nexmark_q20.type' = 'file_sink', 'nexmark_q20.path' = 'output/q20.jsonl', 'nexmark_q20.format' = 'jsonl'
);
