SELECT * FROM a
LEFT JOIN b ON a.k = b.k
LEFT OUTER JOIN c ON a.k = c.k
RIGHT JOIN d ON a.k = d.k
RIGHT OUTER JOIN e ON a.k = e.k
FULL OUTER JOIN f ON a.k = f.k
FULL JOIN g ON a.k = g.k
