-- command: run --batch-size 1
-- A regular join with 'join.state.ttl': rows pair only when at most 10 s
-- apart, and leave the state once the watermark is 10 s past them.
SELECT c.user_id, c.page, b.item
FROM clicks c JOIN buys b ON c.user_id = b.user_id
WITH ('clicks.type' = 'file_source', 'clicks.path' = 'clicks.csv',
      'buys.type' = 'file_source', 'buys.path' = 'buys.csv',
      'event.time.field' = 'ts', 'join.state.ttl' = '10s');
