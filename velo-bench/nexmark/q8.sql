-- Nexmark q8: monitor new users. The people who entered the system and
-- created an auction in the same 10-second window.
CREATE STREAM nexmark_q8 AS
SELECT P.id, P.name, P.starttime
FROM (
  SELECT id, name, window_start AS starttime, window_end AS endtime
  FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
  GROUP BY id, name, window_start, window_end
) P
JOIN (
  SELECT seller, window_start AS starttime, window_end AS endtime
  FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(date_time), INTERVAL '10' SECOND))
  GROUP BY seller, window_start, window_end
) A
ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime
WITH (
    'person.type' = 'nexmark_source', 'person.nexmark.table' = 'person', 'person.nexmark.events' = '1000000',
    'auction.type' = 'nexmark_source', 'auction.nexmark.table' = 'auction', 'auction.nexmark.events' = '1000000',
    'nexmark_q8.type' = 'file_sink', 'nexmark_q8.path' = 'output/q8.jsonl', 'nexmark_q8.format' = 'jsonl'
);
