# Bound parameter values are printed with the pinned output settings, not
# the agent's (red team 15B, finding 4).
#
# An agent with DateStyle = 'SQL, DMY' and extra_float_digits = -15 bound
# date '2024-02-01' and 1234: the statement record read
# "$1 = '01/02/2024', $2 = '1e+03'" (January 2nd, row 1000), and a request
# showed '3e+03' for 2999.5, so a human approved a value other than the one
# the approval admits.  Here the agent binds with pgbench -M extended (each
# :v is a parameter) under such settings; the record and the request show
# ISO dates, exact floats, UTC timestamps, postgres-style intervals and hex
# bytea.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use AgentGuardTest;

my $node = PostgreSQL::Test::Cluster->new('param_settings');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'\n"
	  . "agent_guard.max_rows_per_statement = 5\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE ps_bot LOGIN;
	CREATE TABLE customers (id int PRIMARY KEY, created date, seen timestamptz, wait interval,
	                        blob bytea, email text);
	INSERT INTO customers SELECT g, date '2024-01-01' + g, '2024-01-01 10:00+00', '-1 day -02:00',
	                             '\x01', 'c' || g FROM generate_series(1, 20) g;
	GRANT SELECT, UPDATE ON customers TO ps_bot;
	SELECT agent_guard.protect('customers');
	SELECT agent_guard.register_agent('ps_bot');
});

my $dir = PostgreSQL::Test::Utils::tempdir;

# one pgbench transaction as the agent, extended protocol: ($ok, $stderr)
sub agent_bench
{
	my ($script, $run, @defs) = @_;
	my ($out, $err) = ('', '');
	open(my $fh, '>', "$dir/s.sql") or die $!;
	print $fh $script;
	close $fh;
	local $ENV{PGOPTIONS} = "-c agent_guard.run_id=$run -c DateStyle=SQL,DMY -c extra_float_digits=-15 "
	  . "-c TimeZone=Asia/Kolkata -c IntervalStyle=sql_standard -c bytea_output=escape";
	my $ok = IPC::Run::run(
		[
			'pgbench', '-n', '-M', 'extended', '-t', '1', '-h', $node->host,
			'-p', $node->port, '-U', 'ps_bot', (map { ('-D', $_) } @defs),
			'-f', "$dir/s.sql", 'postgres'
		],
		'>', \$out, '2>', \$err);
	return ($ok, $err);
}

my ($ok, $err) = agent_bench(
	"UPDATE customers SET email = 'gone' WHERE id IN (1, 2) AND (created = :d::date OR id = :f::float8 "
	  . "OR seen = :t::timestamptz OR wait = :i::interval OR blob = :b::bytea);\n",
	'run-ps', 'd=2024-02-01', 'f=1234', 't=2024-01-01 10:00+00', 'i=-1 day -02:00', 'b=\\x01');
ok($ok, 'the agent UPDATE with bound values runs') or diag($err);
is($node->safe_psql('postgres', "SELECT parameters FROM agent_guard.statements WHERE run_id = 'run-ps'"),
	q{$1 = '2024-02-01', $2 = '1234', $3 = '2024-01-01 10:00:00+00', $4 = '-1 days -02:00:00', $5 = '\x01'},
	'the statement record prints the values with the pinned settings');

# a refused statement: its request shows the value the approval admits
($ok, $err) = agent_bench("UPDATE customers SET email = 'x' WHERE id < :f::float8;\n", 'run-ps2', 'f=2999.5');
ok(!$ok, 'a 20-row UPDATE is refused');
$node->safe_psql('postgres', 'SELECT agent_guard._flush_requests()');
is($node->safe_psql('postgres',
	"SELECT parameters FROM agent_guard.requests WHERE run_id = 'run-ps2' ORDER BY request_id DESC LIMIT 1"),
	q{$1 = '2999.5'}, 'the request shows 2999.5, not 3e+03');

done_testing();
