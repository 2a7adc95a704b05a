-- error
SELECT * FROM a JOIN b WHERE a.k = b.k
