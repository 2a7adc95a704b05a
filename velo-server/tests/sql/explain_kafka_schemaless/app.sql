-- command: explain
-- A schemaless Kafka source: its columns are typed at run time; no brokers anywhere shows as none
CREATE STREAM out AS SELECT sensor_id, temperature FROM readings WHERE temperature > 90.5
WITH ('readings.type' = 'kafka_source', 'readings.topic' = 'readings',
      'typed.type' = 'kafka_source', 'typed.topic' = 'typed', 'typed.bootstrap.servers' = 'localhost:9092',
      'typed.schema' = 'sensor_id VARCHAR, temperature DOUBLE',
      'out.type' = 'kafka_sink', 'out.topic' = 'alerts');
SELECT sensor_id FROM typed;
