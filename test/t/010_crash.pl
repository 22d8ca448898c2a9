# Crashes leave nothing half-written: an agent backend killed with SIGKILL
# in the middle of a transaction, a server stopped in immediate mode with
# agent transactions open, and the sealer itself killed while sealing.
# Afterwards every committed write and its events are there, nothing of the
# open transactions is (rows, stamps, soft deletes, events, idempotency
# keys), the chain has no gap and verifies, and committed runs roll back.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AgentGuardTest;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'\nrestart_after_crash = on\n# large agent runs on purpose: no row limits here\nagent_guard.max_rows_per_statement = -1\nagent_guard.max_rows_per_run = -1\n");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE crash_bot LOGIN;
	CREATE TABLE items (id int PRIMARY KEY, v text);
	ALTER TABLE items OWNER TO crash_bot;
	SELECT agent_guard.protect('items');
	SELECT agent_guard.register_agent('crash_bot');
});

sub bot_connstr
{
	my ($run) = @_;
	return $node->connstr('postgres') . " user=crash_bot options='-c agent_guard.run_id=$run'";
}

sub bot
{
	my ($run, $sql) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', $sql,
		connstr => bot_connstr($run), extra_params => [ '-v', 'ON_ERROR_STOP=1' ]);
	diag($err) if $rc;
	return $rc;
}


# an agent session with an open transaction that has written a lot
sub open_agent_transaction
{
	my ($run) = @_;
	my $s = $node->background_psql('postgres', extra_params => [ '-d', bot_connstr($run) ]);
	$s->query_safe(q{
		BEGIN;
		SET LOCAL agent_guard.idempotency_key = 'half';
		INSERT INTO items SELECT g, 'half' FROM generate_series(100001, 101000) g;
		UPDATE items SET v = 'half' WHERE id <= 50;
		DELETE FROM items WHERE id BETWEEN 51 AND 60;
	});
	return ($s, $s->query_safe('SELECT pg_backend_pid()'));
}

# the state that must hold after each crash: $n committed rows, nothing else
sub check_after_crash
{
	my ($what, $committed_rows, $committed_events) = @_;
	is($node->safe_psql('postgres',
			"SELECT count(*) || '|' || count(*) FILTER (WHERE v = 'half' OR ag_deleted_at IS NOT NULL) FROM items"),
		"$committed_rows|0", "$what: the committed rows are there, nothing of the open transaction");
	is($node->safe_psql('postgres',
			"SELECT count(*) FILTER (WHERE run_id LIKE 'committed%') || '|' || count(*) FILTER (WHERE run_id LIKE 'open%') FROM agent_guard.events"),
		"$committed_events|0", "$what: every committed event is there, none of the open transaction");
	is($node->safe_psql('postgres', "SELECT count(*) FROM agent_guard.applied_keys WHERE key = 'half'"),
		'0', "$what: the open transaction's idempotency key was not recorded");
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM agent_guard.statements s WHERE NOT EXISTS (SELECT 1 FROM agent_guard.events e WHERE e.statement_id = s.statement_id)"),
		'0', "$what: no statement text without its events");
	ok(ag_wait_sealed($node, 'postgres', 20), "$what: the sealer seals everything after recovery");
	is($node->safe_psql('postgres', 'SELECT count(*) = max(seal_seq) FROM agent_guard.event_seals'),
		't', "$what: positions 1..n without a gap");
	like($node->safe_psql('postgres', "SELECT ok || '|' || detail FROM agent_guard.verify_log()"),
		qr/^true\|/, "$what: the log verifies");
}

is(bot('committed-1', "INSERT INTO items SELECT g, 'c' FROM generate_series(1, 100) g"), 0,
	'a committed agent run');
my $head = $node->safe_psql('postgres', 'SELECT agent_guard.seal_log(), agent_guard.log_head()');
$head =~ s/^\d+\|//;

# 1. SIGKILL of the agent's backend mid-transaction: the postmaster resets
my ($s, $pid) = open_agent_transaction('open-kill');
ok(kill('KILL', $pid), "SIGKILL to the agent backend $pid");
$s->{run}->kill_kill;
$node->poll_query_until('postgres', 'SELECT 1', '1') or BAIL_OUT('server did not come back');
check_after_crash('SIGKILL', 100, 100);
like($node->safe_psql('postgres', "SELECT ok FROM agent_guard.verify_log('$head')"), qr/^t/,
	'SIGKILL: the head taken before verifies after');

# 2. immediate shutdown with a committed run and an open transaction
is(bot('committed-2', "UPDATE items SET v = 'c2' WHERE id BETWEEN 1 AND 30; DELETE FROM items WHERE id > 95"), 0,
	'a second committed run, with soft deletes');
($s, $pid) = open_agent_transaction('open-immediate');
$node->stop('immediate');
$s->{run}->kill_kill;
$node->start;
# 5 rows of committed-2 are soft-deleted: visible to the superuser, marked
is($node->safe_psql('postgres', 'SELECT count(*) FROM items WHERE ag_deleted_at IS NOT NULL'), '5',
	'immediate stop: the committed soft deletes are there');
is($node->safe_psql('postgres',
		"SELECT count(*) FILTER (WHERE v = 'half') FROM items"), '0',
	'immediate stop: nothing of the open transaction');
is($node->safe_psql('postgres', "SELECT count(*) FROM agent_guard.events WHERE run_id = 'committed-2'"),
	'35', 'immediate stop: the committed run has its 35 events');
is($node->safe_psql('postgres', "SELECT count(*) FROM agent_guard.events WHERE run_id LIKE 'open%'"),
	'0', 'immediate stop: no event of the open transaction');
ok(ag_wait_sealed($node, 'postgres', 20), 'immediate stop: sealed after recovery');
like($node->safe_psql('postgres', "SELECT ok || '|' || detail FROM agent_guard.verify_log('$head')"),
	qr/^true\|/, 'immediate stop: the log verifies and contains the old head');

# 3. the sealer killed while sealing a big backlog (the commit wakes it)
$node->safe_psql('postgres', 'SELECT agent_guard.seal_log()');
is(bot('committed-3', "INSERT INTO items SELECT g, 'c3' FROM generate_series(200001, 230000) g"), 0,
	'a committed run of 30,000 rows');
my $sealer = $node->safe_psql('postgres',
	"SELECT pid FROM agent_guard.sealer_status() WHERE database = 'postgres'");
usleep(200_000);
my $sealed_before = $node->safe_psql('postgres', 'SELECT count(*) FROM agent_guard.event_seals');
ok(kill('KILL', $sealer), "SIGKILL to the sealer $sealer while it seals ($sealed_before sealed)");
$node->poll_query_until('postgres', 'SELECT 1', '1') or BAIL_OUT('server did not come back');
$node->safe_psql('postgres', 'SELECT agent_guard.seal_log()');
is($node->safe_psql('postgres', "SELECT count(*) FROM agent_guard.events WHERE run_id = 'committed-3'"),
	'30000', 'sealer killed: every event of the committed run is there');
is($node->safe_psql('postgres', 'SELECT count(*) = max(seal_seq) FROM agent_guard.event_seals'),
	't', 'sealer killed: the chain has no gap');
like($node->safe_psql('postgres', "SELECT ok || '|' || detail FROM agent_guard.verify_log('$head')"),
	qr/^true\|/, 'sealer killed: the log verifies');

# the committed runs still roll back exactly
my ($rc, $out, $err) = $node->psql('postgres',
	"SELECT count(*) FROM agent_guard.rollback_run('committed-2', apply => true)");
is($rc, 0, 'a run committed before a crash rolls back after it') or diag($err);
is($node->safe_psql('postgres',
		"SELECT count(*) FILTER (WHERE v = 'c2') || '|' || count(*) FILTER (WHERE ag_deleted_at IS NOT NULL) FROM items"),
	'0|0', 'its updates and soft deletes are undone');
$node->safe_psql('postgres', 'SELECT agent_guard.seal_log()');
like($node->safe_psql('postgres', "SELECT ok || '|' || detail FROM agent_guard.verify_log('$head')"),
	qr/^true\|/, 'the log verifies after the rollback');

$node->stop;
done_testing();
