-- Nexmark q5: hot items. The auctions with the most bids in each 10-second
-- window, sliding every 2 seconds.
CREATE STREAM nexmark_q5 AS
SELECT AuctionBids.auction, AuctionBids.num
FROM (
  SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
  FROM TABLE(HOP(TABLE bid, DESCRIPTOR(date_time), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
  GROUP BY auction, window_start, window_end
) AS AuctionBids
JOIN (
  SELECT max(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime
  FROM (
    SELECT count(*) AS num, window_start AS starttime, window_end AS endtime
    FROM TABLE(HOP(TABLE bid, DESCRIPTOR(date_time), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
    GROUP BY auction, window_start, window_end
  ) AS CountBids
  GROUP BY CountBids.starttime, CountBids.endtime
) AS MaxBids
ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.endtime = MaxBids.endtime
   AND AuctionBids.num >= MaxBids.maxn
WITH (
    'bid.type' = 'nexmark_source', 'bid.nexmark.table' = 'bid', 'bid.nexmark.events' = '1000000',
    'nexmark_q5.type' = 'file_sink', 'nexmark_q5.path' = 'output/q5.jsonl', 'nexmark_q5.format' = 'jsonl'
);
