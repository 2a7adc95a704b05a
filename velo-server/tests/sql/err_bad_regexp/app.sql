CREATE STREAM out AS
SELECT id, REGEXP_EXTRACT(url, 'channel_id=([^&]*', 1) AS channel
FROM links
WITH ('links.type' = 'file_source', 'links.path' = 'links.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
