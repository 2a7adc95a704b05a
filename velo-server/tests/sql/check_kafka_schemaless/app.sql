-- command: check
-- The original system's dialect, unchanged: Kafka JSON sources without a schema and brokers that come from
-- VELO_KAFKA_BROKERS at run time. Not errors of the app text: warnings, exit 0.
INSERT INTO alerts
SELECT sensor_id, temperature FROM readings WHERE temperature > 90.5
WITH (
  'readings.type' = 'kafka_source',
  'readings.topic' = 'readings',
  'readings.group.id' = 'velo',
  'readings.auto.offset.reset' = 'earliest',
  'alerts.type' = 'kafka_sink',
  'alerts.topic' = 'alerts'
);

CREATE STREAM per_sensor AS
SELECT sensor_id, COUNT(*) AS n, AVG(temperature) AS avg_temp
FROM readings
GROUP BY sensor_id
WINDOW TUMBLING(1m)
WITH ('per_sensor.type' = 'kafka_sink', 'per_sensor.topic' = 'per-sensor');
