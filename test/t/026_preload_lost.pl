# The preload is lost after install: agent_guard is removed from
# shared_preload_libraries (a configuration rewrite, an upgrade, a typo)
# and the server restarts, with the extension still created.  Version 1.1
# then let a registered agent TRUNCATE a protected table with no request
# and no event, while a human's INSERT failed.  Now the catalog's own
# mechanisms (row triggers, the TRUNCATE statement trigger, the DDL event
# trigger) refuse every agent write and DDL on protected tables with an
# error that says the guard is not loaded and how to fix it, humans read
# and write as usual, the server log says so, and nothing an agent sets
# makes the guard look loaded.  register_agent() put the library into the
# agent role's session_preload_libraries (next to what was there), so its
# sessions still load it, and then every statement of theirs is refused:
# setval() of a protected table's sequence, PREPARE TRANSACTION (which
# would hold locks across the restart that brings the preload back), its
# reads too (red team 17b, findings 2 and 3).  With the preload back, the
# guard works; unregister_agent() takes the library out of the role's
# setting again.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AgentGuardTest;

my $node = PostgreSQL::Test::Cluster->new('preload_lost');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_stat_statements, agent_guard'\nmax_prepared_transactions = 2\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE lost_bot LOGIN;
	CREATE SCHEMA app AUTHORIZATION lost_bot;
	CREATE TABLE app.items (id int PRIMARY KEY, v text);
	CREATE TABLE app.hard (id int PRIMARY KEY, v text);
	CREATE TABLE app.loose (id int PRIMARY KEY, v text);
	ALTER TABLE app.items OWNER TO lost_bot;
	ALTER TABLE app.hard OWNER TO lost_bot;
	ALTER TABLE app.loose OWNER TO lost_bot;
	INSERT INTO app.items SELECT g, 'v' || g FROM generate_series(1, 5) g;
	INSERT INTO app.hard SELECT g, 'h' || g FROM generate_series(1, 5) g;
	SELECT agent_guard.protect('app.items');
	SELECT agent_guard.protect('app.hard', false);
	CREATE TABLE app.numbered (id serial PRIMARY KEY, v text);
	ALTER TABLE app.numbered OWNER TO lost_bot;
	INSERT INTO app.numbered (v) VALUES ('n1'), ('n2');
	SELECT agent_guard.protect('app.numbered');
	ALTER ROLE lost_bot SET session_preload_libraries = 'pg_stat_statements';
	SELECT agent_guard.register_agent('lost_bot');
	CREATE ROLE lost_human LOGIN;
	GRANT USAGE ON SCHEMA app TO lost_human;
	GRANT SELECT, INSERT, UPDATE, DELETE ON app.items, app.hard TO lost_human;
});

# --- the preload is lost ---------------------------------------------
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_stat_statements'\n");
$node->restart;
is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'), 'pg_stat_statements',
	'restarted without agent_guard in shared_preload_libraries');
my $log_start = -s $node->logfile;

my $events_before = $node->safe_psql('postgres', 'SELECT count(*) FROM agent_guard.events');

my %agent_acts = (
	'TRUNCATE' => 'TRUNCATE app.items',
	'TRUNCATE of a hard-delete table' => 'TRUNCATE app.hard',
	'DROP TABLE' => 'DROP TABLE app.items',
	'ALTER TABLE' => 'ALTER TABLE app.items ADD COLUMN x int',
	'ALTER TABLE DISABLE TRIGGER' => 'ALTER TABLE app.items DISABLE TRIGGER ALL',
	'INSERT' => q{INSERT INTO app.items VALUES (100, 'agent')},
	'UPDATE' => q{UPDATE app.items SET v = 'agent' WHERE id = 1},
	'DELETE (soft-delete table)' => 'DELETE FROM app.items WHERE id = 2',
	'DELETE (hard-delete table)' => 'DELETE FROM app.hard WHERE id = 2',
	'DELETE through a DO block' => q{DO $$ BEGIN DELETE FROM app.hard; END $$},
	'CREATE TABLE' => 'CREATE TABLE app.more (id int)',
	'DROP of an unprotected table' => 'DROP TABLE app.loose',
	'DROP EXTENSION' => 'DROP EXTENSION agent_guard CASCADE',
	'DROP SCHEMA CASCADE' => 'DROP SCHEMA app CASCADE',
	'setval of a protected table\'s sequence' => q{SELECT setval('app.numbered_id_seq', 1)},
	'nextval' => q{SELECT nextval('app.numbered_id_seq')},
	'PREPARE TRANSACTION' => q{BEGIN; PREPARE TRANSACTION 'lost1'},
	'LOCK and PREPARE TRANSACTION' =>
	  q{BEGIN; LOCK TABLE app.items IN ACCESS EXCLUSIVE MODE; PREPARE TRANSACTION 'lost2'},
	'LOAD' => q{LOAD 'agent_guard'},
	'a SELECT' => 'SELECT count(*) FROM app.items',
	'SHOW' => 'SHOW search_path',
	'a faked "loaded" placeholder' =>
	  q{SET agent_guard.preloaded = on; SET agent_guard.loaded = 'true'; TRUNCATE app.items},
);
for my $what (sort keys %agent_acts)
{
	my ($rc, $out, $err) = ag_agent_psql($node, 'postgres', 'lost_bot', 'r-lost', $agent_acts{$what});
	isnt($rc, 0, "agent's $what is refused");
	like($err, qr/ERROR:  agent_guard is not loaded, so agent "lost_bot" cannot/,
		"agent's $what: the error says the guard is not loaded");
	like($err, qr/HINT:  Add agent_guard to "shared_preload_libraries" \(ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements, agent_guard'\) and restart the server\./,
		"agent's $what: the hint keeps the existing preload list");
	unlike($err, qr/CREATE EXTENSION/, "agent's $what: the hint does not say to create the extension");
}

# a session tagged as an agent (not registered) is an agent here too
my ($rc, $out, $err) = $node->psql('postgres', q{INSERT INTO app.hard VALUES (50, 'tagged')},
	connstr => $node->connstr('postgres') . " user=lost_human options='-c agent_guard.agent_id=tagged'");
isnt($rc, 0, 'a tagged session is refused too');
like($err, qr/agent "tagged" cannot write to table "hard"/, 'named by its tag');

is($node->safe_psql('postgres', 'SELECT count(*)::text || sum(id) FROM app.items'), '515',
	'the protected table is unchanged');
is($node->safe_psql('postgres', q{SELECT string_agg(v, ',' ORDER BY id) FROM app.items}),
	'v1,v2,v3,v4,v5', 'no row was changed');
is($node->safe_psql('postgres', 'SELECT count(*) FROM app.hard'), '5', 'nor of the hard-delete table');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relname IN ('loose', 'more')}), '1',
	'no DDL of the agent went through');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_extension WHERE extname = 'agent_guard'}), '1',
	'the extension is still there');

# the agent role's sessions load the library: its setting, merged
is($node->safe_psql('postgres', q{
	SELECT array_to_string(s.setconfig, ';') FROM pg_db_role_setting s
	 WHERE s.setrole = 'lost_bot'::regrole
	   AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())}),
	'session_preload_libraries=pg_stat_statements, agent_guard',
	'register_agent() added agent_guard to the role\'s session_preload_libraries');
# the agent cannot switch it off at login, nor reset it
($rc, $out, $err) = $node->psql('postgres', q{SELECT 1},
	connstr => $node->connstr('postgres') . " user=lost_bot options='-c session_preload_libraries='");
isnt($rc, 0, 'the agent cannot clear session_preload_libraries in its connection options');
like($err, qr/permission denied to set parameter "session_preload_libraries"/, 'PostgreSQL refuses it');
($rc, $out, $err) = $node->psql('postgres', q{ALTER ROLE lost_bot RESET ALL},
	connstr => $node->connstr('postgres') . ' user=lost_bot');
isnt($rc, 0, 'nor reset its role settings');
is($node->safe_psql('postgres', 'SELECT last_value FROM app.numbered_id_seq'), '2',
	'the sequence of the protected table is unchanged');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'), '0',
	'no prepared transaction of the agent');

# --- humans are not affected -----------------------------------------
($rc, $out, $err) = $node->psql('postgres', q{
	INSERT INTO app.items VALUES (6, 'human');
	UPDATE app.items SET v = 'human' WHERE id = 1;
	DELETE FROM app.items WHERE id = 3;
	INSERT INTO app.hard VALUES (6, 'human');
	DELETE FROM app.hard WHERE id = 1;
	SELECT string_agg(id || ':' || v || ':' || coalesce(ag_agent_id, 'null'), ',' ORDER BY id) FROM app.items;
}, connstr => $node->connstr('postgres') . ' user=lost_human');
is($rc, 0, "a human's INSERT, UPDATE and DELETE work") or diag($err);
is($out, '1:human:null,2:v2:null,4:v4:null,5:v5:null,6:human:null', 'with NULL stamps, as always');
like($err, qr/WARNING:  agent_guard is installed in database "postgres" but not loaded/,
	'the human is told the guard is not loaded');
unlike($err, qr/ERROR/, 'and nothing fails');

($rc, $out, $err) = $node->psql('postgres', q{
	CREATE TABLE app.human_made (id int PRIMARY KEY);
	DROP TABLE app.human_made;
	TRUNCATE app.hard;
	SELECT count(*) FROM app.hard;
});
is($rc, 0, "a superuser's DDL and TRUNCATE work") or diag($err);
is($out, '0', 'TRUNCATE by a human empties the table');

is($node->safe_psql('postgres', 'SELECT count(*) FROM agent_guard.events'), $events_before,
	'no event was written for the humans (their writes are not logged)');

my $log = slurp_file($node->logfile, $log_start);
like($log, qr/WARNING:  agent_guard is installed in database "postgres" but not loaded/,
	'the server log warns');
like($log, qr/DETAIL:  agent_guard is not in "shared_preload_libraries": agents' writes to protected tables and their DDL are refused/,
	'and says what that means');

# CREATE EXTENSION elsewhere: refused, with a hint that keeps the list
$node->safe_psql('postgres', 'CREATE DATABASE other');
($rc, $out, $err) = $node->psql('other', 'CREATE EXTENSION agent_guard');
isnt($rc, 0, 'CREATE EXTENSION without the preload fails');
like($err, qr/HINT:  Add agent_guard to "shared_preload_libraries" \(ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements, agent_guard'\) and restart the server\. Then run CREATE EXTENSION agent_guard again\./,
	'its hint keeps the list and says to create the extension');

# --- the preload lost on the server's command line (red team 18b, F9):
# it overrides ALTER SYSTEM, so the hint says where to add it ---
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_stat_statements, agent_guard'\n");
$node->stop;
command_ok([ 'pg_ctl', '-D', $node->data_dir, '-l', $node->logfile, '-w',
	'-o', "-c shared_preload_libraries=pg_stat_statements", 'start' ],
	'started with shared_preload_libraries on the command line');
is($node->safe_psql('postgres', q{SELECT setting || '/' || source FROM pg_settings WHERE name = 'shared_preload_libraries'}),
	'pg_stat_statements/command line', 'the command line overrides the configuration file');
($rc, $out, $err) = ag_agent_psql($node, 'postgres', 'lost_bot', 'r-argv', 'TRUNCATE app.items');
isnt($rc, 0, 'the agent is refused');
like($err, qr/HINT:  "shared_preload_libraries" is set on the server's command line, which overrides ALTER SYSTEM and the configuration files: add agent_guard there \(-c shared_preload_libraries='pg_stat_statements, agent_guard'\) and restart the server\./,
	'the hint names the command line, not ALTER SYSTEM');
command_ok([ 'pg_ctl', '-D', $node->data_dir, '-w', '-m', 'fast', 'stop' ], 'stopped');

# --- the preload is back ------------------------------------------------
$node->start;
($rc, $out, $err) = ag_agent_psql($node, 'postgres', 'lost_bot', 'r-back', 'TRUNCATE app.items');
isnt($rc, 0, 'with the preload back, TRUNCATE waits for approval');
like($err, qr/needs a human's approval: request \d+/, 'as a gated statement');
($rc, $out, $err) = ag_agent_psql($node, 'postgres', 'lost_bot', 'r-back',
	q{UPDATE app.items SET v = 'agent' WHERE id = 4});
is($rc, 0, 'agent writes work again') or diag($err);
($rc, $out, $err) = ag_agent_psql($node, 'postgres', 'lost_bot', 'r-back', q{SELECT setval('app.numbered_id_seq', 1)});
like($err, qr/setval\(\) needs a human's approval/, 'setval() of the sequence is gated again');
is($node->safe_psql('postgres', q{SELECT count(*) FROM agent_guard.events WHERE run_id = 'r-back' AND operation = 'UPDATE'}),
	'1', 'and are logged');

# unregister_agent() takes the library out of the role's setting again
$node->safe_psql('postgres', q{SELECT agent_guard.unregister_agent('lost_bot')});
is($node->safe_psql('postgres', q{
	SELECT array_to_string(s.setconfig, ';') FROM pg_db_role_setting s
	 WHERE s.setrole = 'lost_bot'::regrole
	   AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())}),
	'session_preload_libraries=pg_stat_statements',
	'unregister_agent() removed agent_guard from it');

$node->stop;
done_testing();
