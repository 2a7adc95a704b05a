SELECT a FROM t
WITH (
  t.type = 'generator_source',
  event.time.field = 'ts',
  'max.memory.mb' = 512,
  "quoted.key" = 'x',
  'empty' = '',
  'negative' = -1,
  'flag' = true
)
