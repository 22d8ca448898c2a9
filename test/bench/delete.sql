\set id random(1, :rows)
DELETE FROM @TABLE@ WHERE id = :id;
