-- A Kafka source with brokers neither in the app nor in VELO_KAFKA_BROKERS: run refuses it before starting (exit 1)
CREATE STREAM out AS SELECT id FROM events
WITH ('events.type' = 'kafka_source', 'events.topic' = 'events', 'out.type' = 'file_sink', 'out.path' = 'out.jsonl');
