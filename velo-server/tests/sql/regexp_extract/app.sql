CREATE STREAM out AS
SELECT id,
       REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2) AS channel,
       REGEXP_EXTRACT(url, 'q=([0-9]+)') AS whole,
       REGEXP_EXTRACT(url, 'q=([0-9]+)', 1) AS q,
       REGEXP_EXTRACT(url, 'q=([0-9]+)', 5) AS no_group,
       REGEXP_EXTRACT(url, pattern, 1) AS per_row
FROM links
WITH ('links.type' = 'file_source', 'links.path' = 'links.csv', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl', 'out.format' = 'jsonl');
