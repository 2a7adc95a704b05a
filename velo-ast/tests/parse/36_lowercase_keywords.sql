create stream s as select a, count(*) as n from t group by a window tumbling(ts, interval '1' minute) having count(*) > 1 emit final with ('t.type' = 'file_source');
insert into o select * from t;
select x from y
