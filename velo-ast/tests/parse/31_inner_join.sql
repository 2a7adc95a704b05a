SELECT t.symbol, t.price, r.name
FROM trades t
JOIN reference r ON t.symbol = r.symbol
INNER JOIN venues AS v ON t.venue = v.id AND v.active
