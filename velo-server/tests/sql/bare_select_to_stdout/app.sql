SELECT customer, qty FROM orders WHERE qty >= 4 WITH ('orders.type' = 'file_source', 'orders.path' = 'orders.csv');
