# A refused statement is on record, also when its database has no sealer
# (issue 16).
#
# Every sealer takes a slot of max_worker_processes.  With more databases
# with agent_guard than free slots, a database's sealer never started: its
# agents were still refused, each error naming a request, but the request
# was never written to agent_guard.request_log, and a human's
# agent_guard.approve(N) said "request N does not exist".  Now the humans'
# functions that read or decide requests write the waiting ones themselves,
# the launcher says in the server log which sealer found no slot, and
# agent_guard.sealer_status() shows it.
#
# A refusal names its request only once it is on record for good (TAP
# 004): without a sealer nobody records it, so the agent's statement is
# refused with YG009 at once, naming the request that waits in the queue;
# a human records it, and can approve it.
#
# The server has two worker slots: the launcher's and one for a sealer;
# three databases have the extension, so two of them have no sealer.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use AgentGuardTest;

my $node = PostgreSQL::Test::Cluster->new('sealer_slots');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'\n"
	  . "max_worker_processes = 2\nmax_logical_replication_workers = 0\n"
	  . "max_parallel_workers = 0\nmax_parallel_workers_per_gather = 0\n"
	  . "max_prepared_transactions = 2\nagent_guard.seal_interval = 50\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE ROLE ss_bot LOGIN;
	CREATE ROLE ss_human LOGIN;
});
my @dbs = qw(ss_one ss_two ss_three);
for my $db (@dbs)
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, q{
		CREATE EXTENSION agent_guard;
		SELECT agent_guard.register_agent('ss_bot');
		SELECT agent_guard.grant_operator('ss_human');
		CREATE TABLE public.items (id int PRIMARY KEY, v text);
		INSERT INTO public.items SELECT g, 'v' || g FROM generate_series(1, 10) g;
		GRANT SELECT, INSERT, UPDATE, DELETE ON public.items TO ss_bot;
		SELECT agent_guard.protect('public.items', false);
	});
}

sub human
{
	my ($db, $sql) = @_;
	return $node->psql($db, $sql,
		extra_params => [ '-v', 'ON_ERROR_STOP=1' ],
		connstr => $node->connstr($db) . ' user=ss_human');
}

# the states of the three databases' sealers, as a human sees them
sub states
{
	return $node->safe_psql('ss_one', q{
		SELECT string_agg(database || '=' || state, ' ' ORDER BY database)
		  FROM agent_guard.sealer_status() WHERE database LIKE 'ss\_%'});
}

my ($states, $running, $no_slot) = ('', 0, 0);
for (1 .. 600)
{
	$states = states();
	$running = () = $states =~ /=running/g;
	$no_slot = () = $states =~ /=no worker slot/g;
	last if $running == 1 && $no_slot == 2;
	usleep(50_000);
}
ok($running == 1 && $no_slot == 2, "one sealer runs, two find no worker slot ($states)");
my ($db) = $states =~ /(ss_\w+)=no worker slot/;
my ($served) = $states =~ /(ss_\w+)=running/;
$db //= 'ss_two';
$served //= 'ss_one';

# ---------------------------------------------------------------------
# The operator's side: the server log says it, loudly and once
# ---------------------------------------------------------------------
my $failures = 0;
for (1 .. 300)
{
	$failures = $node->safe_psql('ss_one', qq{
		SELECT (s->>'start_failures')::int FROM jsonb_array_elements(agent_guard._sealers()) s
		  JOIN pg_database d ON d.oid = (s->>'dboid')::oid WHERE d.datname = '$db'}) || 0;
	last if $failures >= 3;
	usleep(100_000);
}
cmp_ok($failures, '>=', 3, "the launcher tried $failures times to start the sealer of $db");
my $log = slurp_file($node->logfile);
my @told = $log =~ /WARNING:  agent_guard could not start the sealer of database "$db": no background worker slot is free/g;
is(scalar(@told), 1, 'the server log says it once, not at every try');
like($log, qr/could not start the sealer of database "$db".*\n(?:.*\n)*?.*HINT:  Raise "max_worker_processes" to at least the number of databases with agent_guard plus one/,
	'with a hint naming max_worker_processes');
like(
	$node->safe_psql($db, "SELECT no_slot_since IS NOT NULL AND no_slot_since <= now() FROM agent_guard.sealer_status() WHERE database = '$db'"),
	qr/^t$/, 'sealer_status() says since when');

# ---------------------------------------------------------------------
# The agent's side: refused, and its request can be approved
# ---------------------------------------------------------------------
my $t0 = time;
my ($rc, $out, $err) = ag_agent_psql($node, $db, 'ss_bot', 'run-ss-1',
	"\\set VERBOSITY verbose\nDELETE FROM items");
isnt($rc, 0, 'the agent\'s DELETE without WHERE is refused');
cmp_ok(time - $t0, '<', 5, 'at once');
like($err, qr/ERROR:  YG009: agent_guard could not record a refused statement/,
	'with YG009: the refusal could not be recorded');
like($err, qr/The agent_guard sealer of this database is not running: no background worker slot is free/,
	'because the sealer does not run');
like($err, qr/HINT:  A human can record the queued refusals with SELECT agent_guard\.record_requests\(\)/,
	'saying how a human records it');
unlike($err, qr/needs a human's approval/, 'not as a request on record');
my ($request) = $err =~ /The statement was refused \(approval\) as request (\d+), which waits in the queue/;
ok(defined $request, 'the error names the request that waits') or diag($err);
$request //= 0;
is($node->safe_psql($db, "SELECT unrecorded_requests FROM agent_guard.sealer_status() WHERE database = '$db'"),
	'1', 'sealer_status() counts the refusal nobody wrote');
is($node->safe_psql($db, "SELECT count(*) FROM agent_guard.request_log WHERE request_id = $request"),
	'0', 'no sealer wrote it');
($rc, $out, $err) = human($db, "SELECT status FROM agent_guard.requests WHERE request_id = $request");
is($out, 'pending', 'the human sees it pending in agent_guard.requests');

# a human's transaction that rolls back (all of it, or the savepoint that
# wrote the requests) leaves them waiting, not lost
($rc, $out, $err) = human($db, "BEGIN; SELECT agent_guard.record_requests(); ROLLBACK;");
is($rc, 0, 'record_requests() in a transaction that rolls back') or diag($err);
($rc, $out, $err) = human($db, "BEGIN; SAVEPOINT s; SELECT agent_guard.record_requests(); "
	  . "ROLLBACK TO SAVEPOINT s; COMMIT;");
is($rc, 0, 'record_requests() in a savepoint rolled back') or diag($err);
is($node->safe_psql($db, "SELECT unrecorded_requests FROM agent_guard.sealer_status() WHERE database = '$db'"),
	'1', 'the request still waits after both');
($rc, $out, $err) = human($db, "BEGIN; SELECT agent_guard.record_requests(); PREPARE TRANSACTION 'ss';");
like($err, qr/cannot PREPARE a transaction that recorded refused statements/,
	'a transaction that recorded requests cannot be prepared');

($rc, $out, $err) = human($db, "SELECT request_id, status FROM agent_guard.approve($request, 'go')");
is($rc, 0, "the human approves request $request") or diag($err);
is($out, "$request|approved", 'it is approved');
like($err, qr/WARNING:  the agent_guard sealer of this database is not running/,
	'the human is told the sealer does not run');
like($err, qr/HINT:  Raise "max_worker_processes"/, 'and what to do');
is($node->safe_psql($db, qq{
	SELECT r.status || '|' || r.kind || '|' || r.statement || '|' ||
	       (SELECT count(*) FROM agent_guard.events e
	         WHERE e.operation = 'BLOCKED' AND (e.detail->>'request_id')::bigint = r.request_id)
	  FROM agent_guard.request_log r WHERE r.request_id = $request}),
	'approved|approval|DELETE FROM items|1', 'the request and its BLOCKED event are on record');
is($node->safe_psql($db, "SELECT unrecorded_requests FROM agent_guard.sealer_status() WHERE database = '$db'"),
	'0', 'nothing waits any more');

($rc, $out, $err) = ag_agent_psql($node, $db, 'ss_bot', 'run-ss-1', 'DELETE FROM items');
is($rc, 0, 'the approved retry runs') or diag($err);
is($node->safe_psql($db, 'SELECT count(*) FROM items'), '0', 'and deleted the rows');
$node->safe_psql($db, "INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 10) g");
($rc, $out, $err) = ag_agent_psql($node, $db, 'ss_bot', 'run-ss-1', 'DELETE FROM items');
isnt($rc, 0, 'the approval is used once: the next retry is refused');
my ($again) = $err =~ /The statement was refused \(approval\) as request (\d+)/;
ok(defined $again && $again != $request, 'as a new request') or diag($err);
is($node->safe_psql($db, 'SELECT count(*) FROM items'), '10', 'the rows are there');

# a run known only from refusals nobody wrote: the postmortem writes them first
($rc, $out, $err) = ag_agent_psql($node, $db, 'ss_bot', 'run-ss-pm', "UPDATE items SET v = 'pm'");
isnt($rc, 0, 'the agent\'s UPDATE without WHERE is refused');
($rc, $out, $err) = human($db, "SELECT agent_guard.postmortem('run-ss-pm')");
is($rc, 0, 'the postmortem of a run with only refusals nobody wrote') or diag($err);
like($out, qr/UPDATE items SET v/, 'names the refused statement');

# ---------------------------------------------------------------------
# The queue: a database without a sealer fills its share only, and then
# its agent gets a clear error; nothing is on record that was not queued
# ---------------------------------------------------------------------
($rc, $out, $err) = ag_agent_psql($node, $db, 'ss_bot', 'run-ss-2', q{
	DO $$
	DECLARE d text;
	BEGIN
		FOR i IN 1 .. 40 LOOP
			BEGIN
				EXECUTE format('DELETE FROM items /* %s */', i);
			EXCEPTION WHEN SQLSTATE 'YG009' THEN
				-- queued, not on record: go on; not even queued: stop
				GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
				IF d NOT LIKE '%which waits in the queue%' THEN RAISE; END IF;
			END;
		END LOOP;
	END
	$$});
isnt($rc, 0, 'a burst of refusals without a sealer ends in an error');
like($err, qr/ERROR:  agent_guard could not record a refused statement/, 'saying the refusal could not be recorded');
like($err, qr/The agent_guard sealer of this database is not running: no background worker slot is free/,
	'because the sealer does not run');
like($err, qr/agent_guard\.record_requests\(\)/, 'and how a human records the queue');
my ($lost) = $err =~ /so request (\d+) is only in the server log/;
ok(defined $lost, 'naming the request that is only in the server log') or diag($err);
$lost //= 0;
is($node->safe_psql($db, 'SELECT count(*) FROM items'), '10', 'nothing was deleted');
my $waiting = $node->safe_psql($db, "SELECT unrecorded_requests FROM agent_guard.sealer_status() WHERE database = '$db'");
is($waiting, '32', 'the database holds its share of the queue, no more');

# the database with a sealer is not held up by it
($rc, $out, $err) = ag_agent_psql($node, $served, 'ss_bot', 'run-ss-3', 'DELETE FROM items');
my ($elsewhere) = $err =~ /needs a human's approval: request (\d+)/;
ok(defined $elsewhere, "$served refuses with a request at once") or diag($err);
$elsewhere //= 0;
is($node->safe_psql($served, "SELECT agent_guard._flush_requests(); SELECT count(*) FROM agent_guard.request_log WHERE request_id = $elsewhere"),
	"t\n1", "and its sealer writes it");

($rc, $out, $err) = human($db, 'SELECT agent_guard.record_requests()');
is($rc, 0, 'the human records the queue') or diag($err);
is($out, $waiting, 'every waiting refusal');
is($node->safe_psql($db, "SELECT count(*) FROM agent_guard.request_log WHERE run_id = 'run-ss-2'"),
	$waiting, 'all of them on record');
is($node->safe_psql($db, "SELECT count(*) FROM agent_guard.requests WHERE request_id = $lost"),
	'0', 'the one the agent was told is not recorded does not look recorded');

# refusals are queued again
($rc, $out, $err) = ag_agent_psql($node, $db, 'ss_bot', 'run-ss-4', 'DELETE FROM items');
like($err, qr/as request \d+, which waits in the queue/, 'the next refusal is queued again');

# the humans-only refusals (YG002) are queued and wait for room the same way
$node->safe_psql($db, 'GRANT EXECUTE ON FUNCTION agent_guard.unfreeze(text) TO ss_bot');
($rc, $out, $err) = ag_agent_psql($node, $db, 'ss_bot', 'run-ss-5', q{
	DO $$
	DECLARE d text;
	BEGIN
		FOR i IN 1 .. 40 LOOP
			BEGIN
				PERFORM agent_guard.unfreeze();
			EXCEPTION WHEN SQLSTATE 'YG009' THEN
				GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
				IF d NOT LIKE '%which waits in the queue%' THEN RAISE; END IF;
			END;
		END LOOP;
	END
	$$});
isnt($rc, 0, 'a burst of humans-only refusals without a sealer ends in an error');
like($err, qr/ERROR:  agent_guard could not record a refused statement/, 'saying the refusal could not be recorded');
like($err, qr/The statement was refused \(refused\)/, 'as a refusal of kind refused');
($rc, $out, $err) = human($db, 'SELECT agent_guard.record_requests()');
is($rc, 0, 'the human records the queue') or diag($err);
is($node->safe_psql($db, "SELECT count(*) FROM agent_guard.request_log WHERE run_id = 'run-ss-5' AND kind = 'refused' AND reason LIKE 'agent_guard.unfreeze() cannot be called from an agent session%'"),
	$waiting - 1, 'the humans-only refusals that found room are on record');
$node->safe_psql($db, 'REVOKE EXECUTE ON FUNCTION agent_guard.unfreeze(text) FROM ss_bot');

# agent_guard.record_requests() is a human's
($rc, $out, $err) = ag_agent_psql($node, $db, 'ss_bot', 'run-ss-4', 'SELECT agent_guard.record_requests()');
isnt($rc, 0, 'an agent cannot call record_requests()');

$node->stop;
done_testing();
