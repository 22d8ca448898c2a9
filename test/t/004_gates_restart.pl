# Gates outlive the agent's transaction and the server: a freeze survives a
# restart (and an immediate shutdown), and every decision is one line in the
# server log in the documented format.
#
# A refused statement is always on record, even across a restart (issue
# 16).  The refusing session queues its request in shared memory for the
# database's sealer to write; it used to raise its error at once, so that
# the agent had been told "request N" before the sealer's transaction that
# wrote N had committed: a restart in between (a crash, an immediate
# shutdown, even a clean fast restart, which ends the sealer's transaction)
# lost requests the agent had been told about.  Now the error is raised
# only once the writer's commit is flushed; when nobody writes the request
# within 10 seconds (its sealer stopped) the statement is refused with
# YG009, which says the refusal could not be recorded.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use IPC::Run;
use AgentGuardTest;

my $node = PostgreSQL::Test::Cluster->new('gates');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE gate_bot LOGIN;
	CREATE TABLE ledger (id int PRIMARY KEY, amount int);
	ALTER TABLE ledger OWNER TO gate_bot;
	SELECT agent_guard.protect('ledger');
	SELECT agent_guard.register_agent('gate_bot');
	SELECT agent_guard.freeze('code freeze until the release');
});

sub agent
{
	my ($sql) = @_;
	my ($rc, $out, $err) = $node->psql('postgres', $sql, extra_params => [ '-U', 'gate_bot' ]);
	return ($rc, $out, $err);
}

my $log_offset = -s $node->logfile;
my ($rc, $out, $err) = agent("INSERT INTO ledger VALUES (1, 10)");
isnt($rc, 0, 'a frozen agent cannot write');
like($err, qr/INSERT refused: agents are frozen \(request (\d+)\)/, 'the refusal names the request');
like($err, qr/code freeze until the release/, 'and the reason');

# the decision is one line in the server log, in the documented format
my $log = slurp_file($node->logfile, $log_offset);
like($log,
	qr/agent_guard: decision=refused request=\d+ kind=frozen agent="gate_bot" run="run-[^"]+" login="gate_bot" reason="Writes of all agents are frozen: code freeze until the release" statement="INSERT INTO ledger VALUES \(1, 10\)"/,
	'the server log has the decision line');

# what the agent sent cannot forge or hide a line (red team 4, finding 16):
# a carriage return, an escape sequence and a line break are escaped in the
# guard's line (PostgreSQL's own STATEMENT line stays raw, see README)
$log_offset = -s $node->logfile;
($rc, $out, $err) = agent(qq{INSERT INTO ledger VALUES (2, 20) /*\rLOG:  agent_guard: decision=approved\e[K\n*/});
isnt($rc, 0, 'the frozen agent is refused again');
$log = slurp_file($node->logfile, $log_offset);
my ($line) = grep { /agent_guard: decision=refused/ } split /\n/, $log;
ok(defined $line, 'the refusal has its decision line');
like($line // '',
	qr/ statement="INSERT INTO ledger VALUES \(2, 20\) \/\*\\rLOG:  agent_guard: decision=approved\\x1b\[K\\n\*\/"$/,
	'control characters in the statement are escaped in the line');
unlike($line // '', qr/[\x00-\x1f\x7f]/, 'the line holds no control character');

# the freeze survives a clean restart and an immediate shutdown; the
# requests of the refusals right before each are on record after it,
# with nothing flushed by hand: the agent was told of them
$node->restart;
($rc, $out, $err) = agent("INSERT INTO ledger VALUES (1, 10)");
like($err, qr/agents are frozen/, 'still frozen after a restart');
$node->stop('immediate');
$node->start;
($rc, $out, $err) = agent("INSERT INTO ledger VALUES (1, 10)");
like($err, qr/agents are frozen/, 'still frozen after an immediate shutdown');
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres',
		"SELECT count(*) FROM agent_guard.requests WHERE kind = 'frozen' AND agent_id = 'gate_bot'"),
	'4', 'the four refused attempts are on record after the crash');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM agent_guard.events WHERE operation = 'BLOCKED' AND agent_id = 'gate_bot'"),
	'4', 'each with its BLOCKED event');

# lifted, the agent writes; a destructive statement waits for a human
$node->safe_psql('postgres', "SELECT agent_guard.unfreeze()");
($rc, $out, $err) = agent("INSERT INTO ledger VALUES (1, 10)");
is($rc, 0, 'after unfreeze the agent writes') or diag($err);
($rc, $out, $err) = agent("TRUNCATE ledger");
like($err, qr/TRUNCATE needs a human's approval: request (\d+)/, 'TRUNCATE waits for approval');
my ($req) = $err =~ /request (\d+)/;
$node->safe_psql('postgres', "SELECT agent_guard.approve($req, 'tap test')");
($rc, $out, $err) = agent("TRUNCATE ledger");
is($rc, 0, 'the approved TRUNCATE runs') or diag($err);
($rc, $out, $err) = agent("TRUNCATE ledger");
like($err, qr/needs a human's approval/, 'once');

# ---------------------------------------------------------------------
# Refusals in a loop, and the server restarted while they come: every
# request an agent was told of is on record afterwards, with its BLOCKED
# event, and the log verifies
# ---------------------------------------------------------------------
$node->safe_psql('postgres', "INSERT INTO ledger SELECT g, g FROM generate_series(100, 109) g");

# the request ids named in what the agent's client received
sub told
{
	my ($text) = @_;
	my %ids = map { $_ => 1 } ($text =~ /needs a human's approval: request (\d+)/g);
	my @ids = sort { $a <=> $b } keys %ids;
	return @ids;
}

sub on_record
{
	my (@ids) = @_;
	return '0|0' unless @ids;
	my $list = join(',', @ids);
	return $node->safe_psql('postgres', qq{
		SELECT (SELECT count(*) FROM agent_guard.request_log WHERE request_id IN ($list)) || '|' ||
		       (SELECT count(DISTINCT (detail->>'request_id')::bigint) FROM agent_guard.events
		         WHERE operation = 'BLOCKED' AND (detail->>'request_id')::bigint IN ($list))});
}

my $burst = q{
	DO $$
	BEGIN
		FOR i IN 1 .. 1000000 LOOP
			BEGIN
				EXECUTE format('DELETE FROM ledger /* %s */', i);
			EXCEPTION WHEN SQLSTATE 'YG003' THEN
				RAISE NOTICE '%', SQLERRM;
			END;
		END LOOP;
	END
	$$};

my $one_by_one = $node->basedir . '/one_by_one.sql';
append_to_file($one_by_one, join('', map { "DELETE FROM ledger /* one by one $_ */;\n" } 1 .. 100000));

for my $mode ('fast', 'immediate')
{
	# two agents' sessions refused in a loop, each told of every request
	# as it is refused (a NOTICE is sent at once); one more that sends
	# refused statements one by one
	my @files = map { $node->basedir . "/burst_${mode}_$_.txt" } 1 .. 3;
	my @h;
	for my $i (0, 1)
	{
		push @h, IPC::Run::start(
			[ 'psql', '-X', '-d', $node->connstr('postgres') . ' user=gate_bot', '-c', $burst ],
			'>', '/dev/null', '2>', $files[$i]);
	}
	push @h, IPC::Run::start(
		[ 'psql', '-X', '-d', $node->connstr('postgres') . ' user=gate_bot', '-f', $one_by_one ],
		'>', '/dev/null', '2>', $files[2]);

	# until each has been told of some, then restart at once
	my $ready = 0;
	for (1 .. 600)
	{
		$ready = grep { my @t = -s $_ ? told(slurp_file($_)) : (); @t >= 20 } @files;
		last if $ready == 3;
		usleep(50_000);
	}
	is($ready, 3, "$mode: three agent sessions are being refused");
	if ($mode eq 'fast')
	{
		$node->restart;		# pg_ctl restart -m fast
	}
	else
	{
		$node->stop('immediate');
		$node->start;
	}
	$_->finish for @h;

	my @ids = map { told(slurp_file($_)) } @files;
	cmp_ok(scalar(@ids), '>=', 60, "$mode: the agents were told of " . scalar(@ids) . " requests");
	my $n = scalar(@ids);
	is(on_record(@ids), "$n|$n",
		"$mode restart: every request the agents were told of is on record, each with its BLOCKED event");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM ledger'), '10', "$mode: nothing was deleted");
	ok(defined ag_wait_sealed($node, 'postgres', 60), "$mode: the events are sealed after the restart");
	is($node->safe_psql('postgres', 'SELECT ok FROM agent_guard.verify_log()'), 't', "$mode: the log verifies");
}

# ---------------------------------------------------------------------
# The sealer stopped: a refusal that nobody records is YG009, within the
# bound; a cancel ends the wait; nothing is allowed; a human is not held up
# ---------------------------------------------------------------------
my $sealer = $node->safe_psql('postgres',
	"SELECT pid FROM agent_guard.sealer_status() WHERE database = 'postgres' AND state = 'running'");
like($sealer, qr/^\d+$/, 'the sealer runs');
kill 'STOP', $sealer;

my $t0 = time;
($rc, $out, $err) = agent("\\set VERBOSITY verbose\nDELETE FROM ledger");
my $took = time - $t0;
like($err, qr/ERROR:  YG009: agent_guard could not record a refused statement/,
	'with the sealer stopped, the refusal is YG009');
like($err, qr/The statement was refused \(approval\) as request (\d+), which waits in the queue of refused statements, but no agent_guard sealer recorded it within 10 seconds/,
	'saying which request is not on record, and why');
like($err, qr/agent_guard\.record_requests\(\)/, 'and how a human records it');
unlike($err, qr/needs a human's approval/, 'the agent is not told of a request on record');
my ($queued) = $err =~ /as request (\d+)/;
$queued //= 0;
cmp_ok($took, '>=', 9.5, sprintf('after waiting for it (%.1f s)', $took));
cmp_ok($took, '<', 20, 'no longer than the bound');
is($node->safe_psql('postgres', 'SELECT count(*) FROM ledger'), '10', 'nothing was deleted');

$t0 = time;
($rc, $out, $err) = agent("SET statement_timeout = '1s'; DELETE FROM ledger");
$took = time - $t0;
like($err, qr/canceling statement due to statement timeout/, 'statement_timeout ends the wait');
cmp_ok($took, '<', 5, sprintf('at once (%.1f s)', $took));
is($node->safe_psql('postgres', 'SELECT count(*) FROM ledger'), '10', 'nothing was deleted');

$t0 = time;
is($node->safe_psql('postgres', 'DELETE FROM ledger WHERE id = 109 RETURNING id'), '109',
	"a human's DELETE runs while the sealer is stopped");
cmp_ok(time - $t0, '<', 5, 'without waiting for it');

kill 'CONT', $sealer;
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM agent_guard.request_log WHERE request_id = $queued"),
	'once the sealer runs again, the queued request is recorded');
($rc, $out, $err) = agent("DELETE FROM ledger");
like($err, qr/needs a human's approval: request \d+/, 'and refusals name their request again');
ok(defined ag_wait_sealed($node, 'postgres', 60), 'the events are sealed');
is($node->safe_psql('postgres', 'SELECT ok FROM agent_guard.verify_log()'), 't', 'the log verifies');

$node->stop;
done_testing();
