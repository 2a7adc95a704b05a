SELECT symbol, COUNT(*) FROM trades GROUP BY symbol EMIT FINAL
