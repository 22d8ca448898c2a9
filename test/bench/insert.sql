\set v random(1, 1000000)
INSERT INTO @TABLE@ (v, pad) VALUES (:v, 'inserted by pgbench, forty characters.');
