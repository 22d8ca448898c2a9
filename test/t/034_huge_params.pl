# Bound parameters an agent makes huge (red team 13, findings 1 and 3).
#
# A driver binds values apart from the text, and the guard keeps them with
# the statement and with a refused statement's request.  Each value is kept
# up to 1,024 characters, but their number was not limited: 65,535 values
# of 1 KB made one statement row 64 MB, the sealer printed it as 400 MB,
# held every statement of a batch at once, ran out of memory on every
# retry and sealed nothing again, while sealer_status() said "running".
# And a refused statement with one 540 MB value ran out of memory while
# the guard printed all values, whole, into one buffer for its key: the
# refusal was on no record.
#
# Here the agent binds with pgbench -M extended (each :v is a parameter):
#  - 250 values of 1,500 characters: the statement's parameters are kept
#    up to 64 kB, then counted with a mark; the sealer seals it, and says
#    it runs;
#  - a refused DELETE with one value of 30 MB of quotes: the request and
#    its BLOCKED event are recorded; after approval the same statement with
#    the same value runs; with one character more it is another statement;
#  - a 3 MB bytea is kept from its first bytes, a 1.2 MB array as a mark;
#  - a sealer whose sealing keeps failing shows "failing", not "running".
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use AgentGuardTest;

my $node = PostgreSQL::Test::Cluster->new('huge_params');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'\n"
	  . "agent_guard.seal_interval = 50\nagent_guard.max_rows_per_statement = 5\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE hp_bot LOGIN;
	CREATE TABLE items (id int PRIMARY KEY, v text);
	INSERT INTO items SELECT g, 'row ' || g FROM generate_series(1, 20) g;
	GRANT SELECT, INSERT, DELETE ON items TO hp_bot;
	SELECT agent_guard.protect('items');
	SELECT agent_guard.register_agent('hp_bot');
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
	local $ENV{PGOPTIONS} = "-c agent_guard.run_id=$run";
	my $ok = IPC::Run::run(
		[
			'pgbench', '-n', '-M', 'extended', '-t', '1', '-h', $node->host,
			'-p', $node->port, '-U', 'hp_bot', (map { ('-D', $_) } @defs),
			'-f', "$dir/s.sql", 'postgres'
		],
		'>', \$out, '2>', \$err);
	return ($ok, $err);
}

# --- finding 1: many values, each as long as is kept -------------------
my $n = 250;
my ($ok, $err) = agent_bench(
	"INSERT INTO items VALUES (100, array_length(ARRAY[" . join(', ', (':v') x $n)
	  . "]::text[], 1)::text);\n", 'run-many', 'v=' . ('x' x 1500));
ok($ok, "an agent INSERT with $n bound values of 1,500 characters runs") or diag($err);
is($node->safe_psql('postgres', "SELECT v FROM items WHERE id = 100"), $n, 'with all of them');

my ($len, $shown, $mark) = split /\|/, $node->safe_psql('postgres', q{
	SELECT length(s.parameters),
	       (SELECT count(*) FROM regexp_matches(s.parameters, '\$[0-9]+ = ', 'g')),
	       substring(s.parameters from ' \.\.\. \(.*\)$')
	  FROM agent_guard.statements s
	 WHERE s.run_id = 'run-many'});
# 64 kB, the value that passes it (1,024 characters and its quotes), the mark
cmp_ok($len, '<=', 64 * 1024 + 1100 + 80, "its logged parameters are capped ($len characters)");
cmp_ok($shown, '>=', 60, "the first $shown values are kept");
my $more = $n - $shown;
my $bytes = $more * (1500 + 4);		# text values: a 4-byte header each
is($mark, " ... ($more more parameters, $bytes bytes, not kept)", 'and the rest are counted, with a mark');
like($node->safe_psql('postgres',
	"SELECT parameters FROM agent_guard.statements WHERE run_id = 'run-many'"),
	qr/^\$1 = 'x{1024}\.\.\.', \$2 = 'x{1024}\.\.\.'/, 'each kept value cut at 1,024 characters, marked');

# a long bytea is printed from its first bytes (its whole output is twice
# its size), and another value larger than 1 MB is not printed, but said so
($ok, $err) = agent_bench(
	"SELECT decode(repeat('61', 3000000), 'hex') AS b, "
	  . "(SELECT array_agg(g) FROM generate_series(1, 300000) g) AS arr \\gset\n"
	  . "INSERT INTO items VALUES (101, length(:b::bytea) || '/' || cardinality(:arr::int[]));\n",
	'run-bytea');
ok($ok, 'an agent INSERT with a 3 MB bytea and a 300,000-element array runs') or diag($err);
like($node->safe_psql('postgres',
	"SELECT parameters FROM agent_guard.statements WHERE run_id = 'run-bytea'"),
	qr/^\$1 = '\\x(61){511}\.\.\.', \$2 = \(a value of \d+ bytes, not printed\)$/,
	'the bytea is kept cut, the array is marked as not printed');

ok(defined ag_wait_sealed($node, 'postgres', 30), 'the sealer seals it');
is($node->safe_psql('postgres',
	"SELECT state FROM agent_guard.sealer_status() WHERE database = current_database()"),
	'running', 'and says it runs');
is($node->safe_psql('postgres', 'SELECT ok FROM agent_guard.verify_log()'), 't', 'the log verifies');

# --- finding 3: one huge value on a refused statement --------------------
my $big = 30_000_000;
my $del = "SELECT repeat('''', :len) AS big \\gset\n"
  . "DELETE FROM items WHERE id > 0 AND length(:big) > 0;\n";
my $before = $node->safe_psql('postgres', 'SELECT count(*) FROM agent_guard.requests');
($ok, $err) = agent_bench($del, 'run-big', "len=$big");
ok(!$ok, 'a DELETE of 22 rows with a 30 MB bound value is refused');
like($err, qr/needs a human's approval|YG003|approval/i, 'for approval') or diag($err);
is($node->safe_psql('postgres', 'SELECT count(*) FROM agent_guard.requests') - $before, 1,
	'one request is recorded');
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM agent_guard.events WHERE run_id = 'run-big' AND operation = 'BLOCKED'"),
	'with its BLOCKED event');
my ($req, $params) = split /\|/, $node->safe_psql('postgres',
	"SELECT request_id, length(parameters) FROM agent_guard.requests WHERE run_id = 'run-big'");
cmp_ok($params, '<=', 4096, "the request keeps the start of the value ($params characters)");

$node->safe_psql('postgres', "SELECT agent_guard.approve($req)");
# with one quote more, it is another statement
($ok, $err) = agent_bench($del, 'run-big', 'len=' . ($big + 1));
ok(!$ok, 'after approval, the statement with another value is refused');
is($node->safe_psql('postgres', "SELECT count(*) FROM agent_guard.requests WHERE run_id = 'run-big'"),
	2, 'with a request of its own');
($ok, $err) = agent_bench($del, 'run-big', "len=$big");
ok($ok, 'the approved statement with the same value runs') or diag($err);
is($node->safe_psql('postgres',
	"SELECT count(*) FROM agent_guard.events WHERE run_id = 'run-big' AND operation IN ('DELETE', 'SOFT_DELETE')"),
	22, 'and deletes the 22 rows, logged');

ok(defined ag_wait_sealed($node, 'postgres', 30), 'everything is sealed');
is($node->safe_psql('postgres', 'SELECT ok FROM agent_guard.verify_log()'), 't', 'the log verifies');

# --- a sealer that keeps failing says so --------------------------------
# (finding 1: a sealer out of memory on every retry showed "running"; here
# it fails because the chain's head is gone, and then comes back)
$node->safe_psql('postgres', q{
	CREATE TABLE public.head_copy AS SELECT * FROM agent_guard.chain_state;
	DELETE FROM agent_guard.chain_state;
});
ok($node->poll_query_until('postgres',
	"SELECT state = 'failing' FROM agent_guard.sealer_status() WHERE database = current_database()"),
	'a sealer whose sealing fails shows "failing" in sealer_status()');
$node->safe_psql('postgres', q{
	INSERT INTO agent_guard.chain_state SELECT * FROM public.head_copy;
	DROP TABLE public.head_copy;
});
($ok, $err) = agent_bench("INSERT INTO items VALUES (:id, 'after');\n", 'run-after', 'id=200');
ok($ok, 'an agent write after the head is back') or diag($err);
ok(defined ag_wait_sealed($node, 'postgres', 30), 'is sealed by the restarted sealer');
ok($node->poll_query_until('postgres',
	"SELECT state = 'running' FROM agent_guard.sealer_status() WHERE database = current_database()"),
	'which says "running" again');
$node->stop;
done_testing();
