SELECT price AS p, quantity q, "select" AS quoted, price * 2 doubled
FROM trades AS tr
