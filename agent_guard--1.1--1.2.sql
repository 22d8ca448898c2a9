-- agent_guard 1.1 -> 1.2 (ALTER EXTENSION agent_guard UPDATE)
--
-- test/t/016_upgrade.pl installs 1.1 from releases/, fills it, runs this
-- script and checks that every row is kept and that the result is, object
-- for object, a fresh install of 1.2.
\echo Use "ALTER EXTENSION agent_guard UPDATE TO '1.2'" to load this file. \quit
