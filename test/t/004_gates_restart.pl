# Gates outlive the agent's transaction and the server: a freeze survives a
# restart (and an immediate shutdown), a refused statement's request is on
# record after a crash once written, and every decision is one line in the
# server log in the documented format.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

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

# the freeze survives a clean restart and an immediate shutdown (the
# refusal's request written first: what the worker has not written yet is
# in shared memory, which a crash loses; its decision line is in the log)
$node->restart;
($rc, $out, $err) = agent("INSERT INTO ledger VALUES (1, 10)");
like($err, qr/agents are frozen/, 'still frozen after a restart');
$node->safe_psql('postgres', "SELECT agent_guard._flush_requests()");
$node->stop('immediate');
$node->start;
($rc, $out, $err) = agent("INSERT INTO ledger VALUES (1, 10)");
like($err, qr/agents are frozen/, 'still frozen after an immediate shutdown');

# requests written by the worker survive a crash
is($node->safe_psql('postgres', "SELECT agent_guard._flush_requests()"), 't', 'requests written');
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

$node->stop;
done_testing();
