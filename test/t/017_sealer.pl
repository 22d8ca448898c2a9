# A long-lived sealer.
#
# Its plans: the sealer prepares its queries once and keeps them for its
# life; a plan chosen while the log was small (a sequential scan and a sort
# of all of agent_guard.events) would then be run for every batch for good,
# so that sealing slowed as the log grew and at last fell behind the
# writers.  The sealer must read the unsealed events from their index
# however small the log was when it planned.
#
# Its content: the sealer prints each event's canonical content in C, and
# must agree with verify_log()'s SQL formula in any encoding and for any
# column type, including columns added to events later.
#
# Its end: a sealer must end when it is terminated (it used to wait for
# the chain's row lock first; it no longer waits for that lock at all).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AgentGuardTest;

my $node = PostgreSQL::Test::Cluster->new('sealer_plan');
$node->init;
# no ANALYZE behind the test's back: it would make the sealer plan again
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'\n"
	  . "autovacuum = off\nagent_guard.seal_interval = 20\n"
	  . "agent_guard.max_rows_per_statement = -1\nagent_guard.max_rows_per_run = -1\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE sp_bot LOGIN;
	CREATE TABLE items (id int PRIMARY KEY, v text);
	ALTER TABLE items OWNER TO sp_bot;
	SELECT agent_guard.protect('items');
	SELECT agent_guard.register_agent('sp_bot');
	VACUUM ANALYZE agent_guard.events;
});

sub seq_scans
{
	my ($node, $where) = @_;
	# the sealer's counts reach the statistics when its transaction ends
	$node->safe_psql('postgres', 'SELECT pg_stat_clear_snapshot()');
	return $node->safe_psql('postgres',
		"SELECT seq_scan FROM pg_stat_all_tables WHERE relid = 'agent_guard.events'::regclass");
}

# a small log: one sealer, many batches, so its plans are the cached ones
my $pid = $node->safe_psql('postgres',
	"SELECT pid FROM agent_guard.sealer_status() WHERE database = current_database()");
for my $i (1 .. 12)
{
	my ($rc, $out, $err) = ag_agent_psql($node, 'postgres', 'sp_bot', 'run-small',
		"INSERT INTO items VALUES ($i, 'small')");
	is($rc, 0, "small write $i") or diag($err);
	ok(defined ag_wait_sealed($node, 'postgres'), "and sealed");
}

# the log grows by 30,000 events in one transaction
my $before = seq_scans($node);
my $target = $node->safe_psql('postgres', 'SELECT last_seq + 30000 FROM agent_guard.chain_state');
my ($rc, $out, $err) = ag_agent_psql($node, 'postgres', 'sp_bot', 'run-big',
	"INSERT INTO items SELECT g, 'big' FROM generate_series(1000, 30999) g");
is($rc, 0, 'a 30,000-row write') or diag($err);
# waiting on the head, not on events: the test reads no event itself
ok($node->poll_query_until('postgres',
	"SELECT last_seq >= $target FROM agent_guard.chain_state"), 'is sealed');
is($node->safe_psql('postgres',
	"SELECT pid FROM agent_guard.sealer_status() WHERE database = current_database()"),
	$pid, 'by the same sealer, which planned on the small log');
is(seq_scans($node) - $before, 0, 'which read no batch by scanning the whole log');

is($node->safe_psql('postgres', "SELECT ok FROM agent_guard.verify_log()"), 't', 'the log verifies');

# a sealer does not wait for the chain's lock held by another transaction
# (it tries again at its next pass: TAP 038), and can be terminated
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN; SELECT 1 FROM agent_guard.chain_state FOR UPDATE');
($rc, $out, $err) = ag_agent_psql($node, 'postgres', 'sp_bot', 'run-locked',
	"INSERT INTO items VALUES (50000, 'waits')");
is($rc, 0, 'a write while a human holds the head') or diag($err);
ok(!defined ag_wait_sealed($node, 'postgres', 2), 'the write waits to be sealed');
isnt($node->safe_psql('postgres',
	"SELECT coalesce(wait_event_type, '') FROM pg_stat_activity WHERE pid = $pid"),
	'Lock', 'the sealer does not wait for the lock');
is($node->safe_psql('postgres', "SELECT pg_terminate_backend($pid, 10000)"), 't',
	'and ends when it is terminated');
$holder->query_safe('COMMIT');
$holder->quit;
ok(defined ag_wait_sealed($node, 'postgres'), 'a new sealer seals the write');
isnt($node->safe_psql('postgres',
	"SELECT pid FROM agent_guard.sealer_status() WHERE database = current_database()"),
	$pid, 'the terminated one is gone');
is($node->safe_psql('postgres', "SELECT ok FROM agent_guard.verify_log()"), 't', 'the log still verifies');

# seal_log() over a backlog holds one batch (10,000 events) in memory at a
# time, not the whole backlog: 50,000 events, each with a statement of its
# own of 4 KB, sealed by one call in one session.  Used to keep every batch
# until the call ended: 626 MB here then, 94 MB now (part of it shared
# buffers the session touches for the first time).
SKIP:
{
	skip 'needs /proc', 2 unless -r "/proc/self/status";
	my $sess = $node->background_psql('postgres');
	my $spid = $sess->query_safe('SELECT pg_backend_pid()');
	$spid =~ s/\s+//g;
	$sess->query_safe(q{
		BEGIN;
		WITH s AS (INSERT INTO agent_guard.statement_rows (agent_id, query)
		           SELECT 'mem', repeat('SELECT 1 -- padding ', 200) || g FROM generate_series(1, 50000) g
		           RETURNING statement_id)
		INSERT INTO agent_guard.events (operation, statement_id, detail) SELECT 'FREEZE', statement_id, '{}' FROM s;
	});
	my $peak = sub {
		open(my $fh, '<', "/proc/$spid/status") or return undef;
		my ($kb) = map { /^VmHWM:\s+(\d+)/ ? $1 : () } <$fh>;
		close($fh);
		return $kb;
	};
	my $before = $peak->();
	my $n = $sess->query_safe('SELECT agent_guard.seal_log()');
	my $grew_mb = int(($peak->() - $before) / 1024);
	$sess->query_safe('COMMIT');
	$sess->quit;
	cmp_ok($n, '>=', 50000, 'seal_log() sealed the 50,000-event backlog in one call');
	cmp_ok($grew_mb, '<', 250, "and its peak memory grew by $grew_mb MB (one batch, not the backlog)");
}
is($node->safe_psql('postgres', "SELECT ok FROM agent_guard.verify_log()"), 't', 'the log verifies');

# The sealer prints the canonical content in C (canon.c), verify_log() in
# SQL.  In a LATIN1 database, with columns added to events whose types the
# C printer hands to to_jsonb(), both must still agree.
$node->safe_psql('postgres', q{
	CREATE DATABASE latin ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
});
$node->safe_psql('latin', q{
	CREATE EXTENSION agent_guard;
	ALTER TABLE agent_guard.events ADD COLUMN x_float float8, ADD COLUMN x_num numeric,
		ADD COLUMN x_arr int[], ADD COLUMN x_json json, ADD COLUMN x_money money,
		ADD COLUMN x_row agent_guard.chain_state;
	SET client_encoding = 'UTF8';
	INSERT INTO agent_guard.events (agent_id, operation, detail, x_float, x_num, x_arr, x_json, x_money, x_row)
	VALUES ('café ü', 'FREEZE', '{"w": "é"}', 1e20, 'NaN', '{1,NULL,3}',
	        '{"b": 1,  "a": [1.50, null], "b": 2}', 12.5, (SELECT c FROM agent_guard.chain_state c)),
	       ('x', 'UNFREEZE', NULL, '-Infinity', 1.000, '{}', 'null', NULL, NULL),
	       ('y', 'FREEZE', NULL, 0.1, -0.0, NULL, '"s"', NULL, NULL);
});
$node->safe_psql('latin', 'SELECT agent_guard.seal_log()');
is($node->safe_psql('latin', 'SELECT count(*) FROM agent_guard.events e WHERE NOT EXISTS (SELECT 1 FROM agent_guard.event_seals c WHERE c.event_id = e.event_id)'), '0',
	'LATIN1: events with added columns are sealed');
is($node->safe_psql('latin', "SELECT ok::text || ' ' || (events_checked = (SELECT count(*) FROM agent_guard.events))::text "
	  . "FROM agent_guard.verify_log()"), 'true true', 'and every seal verifies with the SQL formula');

$node->stop;
done_testing();
