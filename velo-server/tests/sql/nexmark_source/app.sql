-- The Nexmark generator: of the first 60 events, 2 are people, 6 auctions (ids
-- from 1000) and 52 bids; date_time is the event time, so a window needs no
-- 'event.time.field'. A base time moves every date_time.
CREATE STREAM people AS SELECT id, name, state, date_time FROM person
WITH ('person.type' = 'nexmark_source', 'person.nexmark.table' = 'person', 'person.nexmark.events' = '60',
      'people.type' = 'file_sink', 'people.path' = 'people.jsonl');
CREATE STREAM auctions AS SELECT id, seller, category, initial_bid, date_time, expires FROM auction
WITH ('auction.type' = 'nexmark_source', 'auction.nexmark.table' = 'auction', 'auction.nexmark.events' = '60',
      'auction.nexmark.base.time' = '0',
      'auctions.type' = 'file_sink', 'auctions.path' = 'auctions.jsonl');
CREATE STREAM bids_per_window AS
SELECT window_start, COUNT(*) AS bids, MAX(price) AS top
FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '1' MILLISECOND))
GROUP BY window_start, window_end
WITH ('bid.type' = 'nexmark_source', 'bid.nexmark.table' = 'bid', 'bid.nexmark.events' = '60',
      'bids_per_window.type' = 'file_sink', 'bids_per_window.path' = 'bids.jsonl');
