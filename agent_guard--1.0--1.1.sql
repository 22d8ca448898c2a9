-- agent_guard 1.0 -> 1.1 (ALTER EXTENSION agent_guard UPDATE)
--
-- test/t/016_upgrade.pl installs 1.0 from releases/, fills it, runs this
-- script and checks that every row is kept and that the result is, object
-- for object, a fresh install of 1.1.
\echo Use "ALTER EXTENSION agent_guard UPDATE TO '1.1'" to load this file. \quit

-- The chain's positions: index an event when it is sealed, not when it is
-- written (one index fewer on the agent's write path).  Rebuilding takes
-- about a second per million events.
DROP INDEX agent_guard.events_seal_seq_idx;
CREATE UNIQUE INDEX events_seal_seq_idx ON agent_guard.events (seal_seq) WHERE seal_seq IS NOT NULL;
