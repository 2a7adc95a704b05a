-- Nexmark q7: highest bid. The bids with the highest price in each 10-second window.
CREATE STREAM nexmark_q7 AS
SELECT B.auction, B.bidder, B.price, B.date_time, B.extra
FROM bid B
JOIN (
  SELECT MAX(price) AS maxprice, window_end AS date_time
  FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
  GROUP BY window_start, window_end
) B1
ON B.price = B1.maxprice
WHERE B.date_time BETWEEN B1.date_time - INTERVAL '10' SECOND AND B1.date_time
WITH (
    'bid.type' = 'nexmark_source', 'bid.nexmark.table' = 'bid', 'bid.nexmark.events' = '1000000',
    'nexmark_q7.type' = 'file_sink', 'nexmark_q7.path' = 'output/q7.jsonl', 'nexmark_q7.format' = 'jsonl'
);
