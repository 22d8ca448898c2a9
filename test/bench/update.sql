\set id random(1, :rows)
UPDATE @TABLE@ SET v = v + 1 WHERE id = :id;
