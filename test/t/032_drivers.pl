# The clients agents are written with: psycopg 3 (Python) and node-postgres
# (Node.js), over TCP with SCRAM, with server-side prepared statements.
# Runs are labelled per transaction, writes are attributed, and the agent
# code reads the SQLSTATE and the request id from the error of a refused
# statement; after a human's approval the same statement runs once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('drivers');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'agent_guard'
listen_addresses = '127.0.0.1'
password_encryption = 'scram-sha-256'
agent_guard.max_rows_per_statement = 10
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE bot LOGIN PASSWORD 'bot-secret';
	CREATE TABLE invoices (id int PRIMARY KEY, amount numeric, status text);
	INSERT INTO invoices SELECT g, g * 10, 'open' FROM generate_series(1, 40) g;
	GRANT SELECT, UPDATE ON invoices TO bot;
	SELECT agent_guard.protect('invoices');
	SELECT agent_guard.register_agent('bot', 'billing-agent');
});
my $hba = $node->data_dir . '/pg_hba.conf';
open(my $fh, '>', $hba) or die $!;
print $fh "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n";
close $fh;
$node->reload;

my $src = $ENV{AG_SRC} // '.';
my $node_path = $ENV{NODE_PATH} || '/var/cache/agent_guard-node/node_modules';
my %drivers = (
	psycopg => [ 'python3', "$src/test/drivers/psycopg_agent.py" ],
	node => [ 'node', "$src/test/drivers/node_agent.js" ],
);

# run one step of a driver script as the agent; its "key=value" lines
sub agent
{
	my ($driver, @args) = @_;
	my ($out, $err) = ('', '');
	local %ENV = (%ENV, PGHOST => '127.0.0.1', PGPORT => $node->port, PGUSER => 'bot',
		PGPASSWORD => 'bot-secret', PGDATABASE => 'postgres', NODE_PATH => $node_path);
	delete $ENV{PGHOSTADDR};
	IPC::Run::run [ @{ $drivers{$driver} }, @args ], '>', \$out, '2>', \$err;
	diag("$driver @args: $err") if $err ne '';
	return { map { /^([^=]+)=(.*)$/ ? ($1 => $2) : () } split /\n/, $out };
}

# the human on call: agent-guard watch (LISTEN agent_guard) and requests
my $bindir = `pg_config --bindir`;
chomp $bindir;
my $ag = "$bindir/agent-guard";
my %human = (PGHOST => $node->host, PGPORT => $node->port, PGDATABASE => 'postgres', PGUSER => undef);
sub start_watch
{
	my ($wout, $werr) = ('', '');
	local %ENV = (%ENV, %human);
	delete $ENV{$_} for qw(PGUSER PGOPTIONS PGHOSTADDR);
	my $h = IPC::Run::start([ $ag, 'watch', '--count', '1' ], '<', \undef, '>', \$wout, '2>', \$werr,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	my $t = IPC::Run::timer(30);
	$t->start;
	$h->pump while $wout !~ /watching channel agent_guard/ && !$t->is_expired && $h->pumpable;
	return ($h, \$wout);
}
sub human_ag
{
	my ($out, $err) = ('', '');
	local %ENV = (%ENV, %human);
	delete $ENV{$_} for qw(PGUSER PGOPTIONS PGHOSTADDR);
	IPC::Run::run [ $ag, @_ ], '>', \$out, '2>', \$err;
	return $out;
}

my $first_id = { psycopg => 1, node => 2 };
for my $driver (qw(psycopg node))
{
	my $run1 = $driver eq 'psycopg' ? 'py-run-1' : 'node-run-1';
	my $run2 = $driver eq 'psycopg' ? 'py-run-2' : 'node-run-2';
	$node->safe_psql('postgres', q{UPDATE invoices SET status = 'open'});

	my $r = agent($driver, 'attribution');
	is($r->{agent}, 'billing-agent', "$driver: the registered role is its agent");
	is($r->{run}, $run1, "$driver: the run label set in the transaction holds");
	cmp_ok($r->{prepared} // 0, '>=', 1, "$driver: statements were prepared on the server");
	is($node->safe_psql('postgres', qq{SELECT agent_id || '/' || run_id FROM agent_guard.events
		WHERE relation = 'public.invoices' AND row_key->>'id' = '$first_id->{$driver}' ORDER BY event_id DESC LIMIT 1}),
		"billing-agent/$run1", "$driver: the write is attributed to agent and run");

	my ($watch, $wout) = start_watch();
	$r = agent($driver, 'refuse');
	is($r->{sqlstate}, 'YG003', "$driver: a statement over the row limit is refused with YG003");
	$watch->finish;
	like($$wout, qr/^(?=.*request $r->{request} pending\b)(?=.*parameters=\$1 = 'void', \$2 = '12').*$/m,
		"$driver: agent-guard watch shows the request on record with its bound values");
	like(human_ag('requests', '--json'), qr/"parameters":\s*"\$1 = 'void', \$2 = '12'"/,
		"$driver: so does agent-guard requests --json");
	like(human_ag('requests'), qr/\bparameters\n.*\n.*\$1 = 'void'/, "$driver: and its table, a column wide");
	like($r->{request}, qr/^\d+$/, "$driver: the request id is read from the error");
	like($r->{hint} // '', qr/agent_guard\.approve\($r->{request}\)/, "$driver: the hint names the approval");
	my $req = $r->{request};
	$node->safe_psql('postgres', 'SELECT agent_guard._flush_requests()');
	is($node->safe_psql('postgres', "SELECT agent_id || '/' || run_id || '/' || status || '/' || statement
		|| '/' || parameters FROM agent_guard.requests WHERE request_id = $req"),
		"billing-agent/$run2/pending/UPDATE invoices SET status = \$1 WHERE id <= \$2/\$1 = 'void', \$2 = '12'",
		"$driver: the request is on record with the statement and the values bound to it");

	$node->safe_psql('postgres', "SELECT agent_guard.approve($req)");
	# the approval is for these values: other values are another statement
	$r = agent($driver, 'retry', 'void', 30);
	is($r->{sqlstate}, 'YG003', "$driver: a retry with other values is refused");
	isnt($r->{request} // '', $req, "$driver: as a new request");
	$node->safe_psql('postgres', 'SELECT agent_guard._flush_requests()');
	is($node->safe_psql('postgres', "SELECT status || '/' || parameters FROM agent_guard.requests WHERE request_id = $r->{request}"),
		"pending/\$1 = 'void', \$2 = '30'", "$driver: which shows its own values");
	is($node->safe_psql('postgres', "SELECT status FROM agent_guard.requests WHERE request_id = $req"),
		'approved', "$driver: and the approval is still there for the approved values");
	$r = agent($driver, 'retry', 'void', 12);
	is($r->{sqlstate}, 'none', "$driver: after approval the same statement runs");
	is($r->{rows}, 12, "$driver: and writes its 12 rows");
	$r = agent($driver, 'retry', 'void', 12);
	is($r->{sqlstate}, 'YG003', "$driver: once");

	# the statement record keeps the bound values; the postmortem shows them
	is($node->safe_psql('postgres', qq{SELECT query || ' | ' || parameters FROM agent_guard.statements
		WHERE run_id = '$run2' ORDER BY statement_id DESC LIMIT 1}),
		"UPDATE invoices SET status = \$1 WHERE id <= \$2 | \$1 = 'void', \$2 = '12'",
		"$driver: the statement record keeps the values bound to \$1 and \$2");
	like($node->safe_psql('postgres', "SELECT agent_guard.postmortem('$run2')"),
		qr/`UPDATE invoices SET status = \$1 WHERE id <= \$2` with `\$1 = 'void', \$2 = '12'`/,
		"$driver: the postmortem shows what the parameters were");
}

$node->stop;
done_testing();
