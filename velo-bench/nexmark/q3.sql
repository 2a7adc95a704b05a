-- Nexmark q3: local item suggestion. Who sells in category 10 in OR, ID or CA,
-- and which auctions. A regular join of two streams (every pair is emitted once,
-- when its second row arrives). The nexmark crate writes states in lower case,
-- where Flink's Java generator writes 'OR', 'ID', 'CA'.
CREATE STREAM nexmark_q3 AS
SELECT P.name, P.city, P.state, A.id
FROM auction AS A INNER JOIN person AS P ON A.seller = P.id
WHERE A.category = 10 AND (P.state = 'or' OR P.state = 'id' OR P.state = 'ca')
WITH (
    'auction.type' = 'nexmark_source', 'auction.nexmark.table' = 'auction', 'auction.nexmark.events' = '1000000',
    'person.type' = 'nexmark_source', 'person.nexmark.table' = 'person', 'person.nexmark.events' = '1000000',
    'nexmark_q3.type' = 'file_sink', 'nexmark_q3.path' = 'output/q3.jsonl', 'nexmark_q3.format' = 'jsonl'
);
