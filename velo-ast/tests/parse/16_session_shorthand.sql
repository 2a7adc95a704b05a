SELECT user_id, COUNT(*) FROM clicks GROUP BY user_id WINDOW SESSION(5m)
