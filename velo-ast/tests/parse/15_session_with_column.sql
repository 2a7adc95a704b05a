SELECT user_id, COUNT(*) AS clicks FROM clicks GROUP BY user_id WINDOW SESSION(event_time, INTERVAL '30' SECOND)
