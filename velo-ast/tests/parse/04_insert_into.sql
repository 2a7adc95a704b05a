INSERT INTO alerts
SELECT sensor_id, temperature FROM readings WHERE temperature > 90.5
WITH (
  'readings.type' = 'kafka_source',
  'readings.topic' = 'readings',
  'readings.bootstrap.servers' = 'localhost:9092',
  'readings.group.id' = 'velo',
  'readings.auto.offset.reset' = 'earliest',
  'alerts.type' = 'kafka_sink',
  'alerts.topic' = 'alerts'
)
