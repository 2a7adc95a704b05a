CREATE STREAM late_aware AS
SELECT sensor, AVG(value) AS avg_value
FROM readings
GROUP BY sensor
WINDOW TUMBLING(ts, 10s)
WITH (
  'readings.type' = 'file_source',
  'readings.path' = 'readings.csv',
  'readings.format' = 'csv_no_header',
  'event.time.field' = 'ts',
  'event.time.format' = 'epoch_millis',
  'watermark.strategy' = 'bounded_out_of_orderness',
  'watermark.max_out_of_orderness' = '5s',
  'late.data.strategy' = 'dead_letter',
  'late.data.dead_letter' = 'late_sink',
  'partitioning_strategy' = 'always_hash',
  'failure_strategy' = 'send_to_dlq',
  'dlq.sink' = 'dlq',
  'max.memory.mb' = '256'
)
