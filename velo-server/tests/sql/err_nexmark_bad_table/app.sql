-- A Nexmark source names one of its three tables.
SELECT auction FROM bids
WITH ('bids.type' = 'nexmark_source', 'bids.nexmark.table' = 'bids', 'bids.nexmark.events' = '100');
