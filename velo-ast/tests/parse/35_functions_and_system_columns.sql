SELECT
  ABS(delta), ROUND(price, 2), CEIL(price), FLOOR(price), SQRT(v), POWER(v, 2), MOD(n, 3),
  LEAST(a, b), GREATEST(a, b),
  UPPER(name), LOWER(name), SUBSTRING(name, 1, 3), REPLACE(name, 'a', 'b'), TRIM(name),
  LENGTH(name), CONCAT(a, '-', b), SPLIT_PART(path, '/', 2), name || '!' AS shout,
  COALESCE(note, 'none'), NULLIF(a, 0),
  FROM_UNIXTIME(secs), UNIX_TIMESTAMP(ts), NOW(),
  STDDEV(v), STDDEV_POP(v), VARIANCE(v), VAR_POP(v),
  TUMBLE_START(ts, INTERVAL '1' MINUTE),
  _timestamp, _offset, _partition, _key
FROM t
