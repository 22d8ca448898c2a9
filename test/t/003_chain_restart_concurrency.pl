# The hash chain under load and across restarts: many agent sessions write
# at once (some transactions roll back), the background sealer seals every
# committed event within seconds without making writers wait, the chain
# stays gap-free and verifies, a head taken before a clean restart or a
# crash still verifies after it, and the sealer never blocks DROP DATABASE.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AgentGuardTest;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('chain');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'\nmax_connections = 40\n# a deliberately heavy concurrent agent load: no row limits here\nagent_guard.max_rows_per_statement = -1\nagent_guard.max_rows_per_run = -1\n");
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE bot LOGIN;
	CREATE TABLE items (id int PRIMARY KEY, v text, n int DEFAULT 0);
	ALTER TABLE items OWNER TO bot;
	SELECT agent_guard.protect('items');
	SELECT agent_guard.register_agent('bot');
});

# wait until every committed event is sealed; returns seconds taken or undef

sub verify
{
	my ($head) = @_;
	my $arg = defined $head ? "'$head'" : '';
	return $node->safe_psql('postgres',
		"SELECT ok || '|' || events_checked || '|' || coalesce(first_bad_event::text, '') || '|' || detail FROM agent_guard.verify_log($arg)");
}

# one write: how long until it is sealed
ag_wait_sealed($node, 'postgres', 10);
$node->safe_psql('postgres', "INSERT INTO items VALUES (0, 'first')", extra_params => [ '-U', 'bot' ]);
my $latency = ag_wait_sealed($node, 'postgres', 10);
ok(defined $latency, 'a single agent write is sealed by the background sealer');
note(sprintf('single write sealed after %.0f ms', 1000 * ($latency // 99)));
cmp_ok($latency // 99, '<', 2.5, 'within a second or two of commit');

# concurrent writers: 8 agent sessions, a tenth of their transactions roll back
my $dir = PostgreSQL::Test::Utils::tempdir;
open(my $fh, '>', "$dir/write.sql") or die $!;
print $fh "\\set id random(1, 5000)\n"
  . "INSERT INTO items VALUES (:id, 'w') ON CONFLICT (id) DO UPDATE SET n = items.n + 1;\n";
close $fh;
open($fh, '>', "$dir/abort.sql") or die $!;
print $fh "\\set id random(100001, 200000)\nBEGIN;\nINSERT INTO items VALUES (:id, 'aborted');\nROLLBACK;\n";
close $fh;

my ($out, $err) = ('', '');
my $t0 = time;
my $ok = IPC::Run::run(
	[
		'pgbench', '-n', '-h', $node->host, '-p', $node->port, '-U', 'bot',
		'-c', '8', '-j', '4', '-T', '4',
		'-f', "$dir/write.sql\@9", '-f', "$dir/abort.sql\@1", 'postgres'
	],
	'>', \$out, '2>', \$err);
ok($ok, 'pgbench ran 8 concurrent agent sessions') or diag($err);
my ($tps) = $out =~ /tps = ([0-9.]+)/;
note("pgbench: " . ($tps // '?') . " agent transactions/s with the sealer running");

$latency = ag_wait_sealed($node, 'postgres', 60);
ok(defined $latency, 'every committed event is sealed after the load');
note(sprintf('backlog sealed %.0f ms after the load ended', 1000 * ($latency // 99)));

my ($events, $maxseq, $aborted) = split /\|/, $node->safe_psql('postgres',
	"SELECT count(*), (SELECT max(seal_seq) FROM agent_guard.event_seals), count(*) FILTER (WHERE new_row->>'v' = 'aborted') FROM agent_guard.events");
cmp_ok($events, '>', 1000, "the load logged many events ($events)");
is($maxseq, $events, 'positions are 1..n without a gap');
is($aborted, '0', 'no event of a rolled-back transaction entered the log');
is($node->safe_psql('postgres', 'SELECT count(DISTINCT seal) FROM agent_guard.event_seals'), $events,
	'every seal is distinct');
like(verify(), qr/^true\|$events\|\|/, 'the chain verifies after concurrent writes');
# sealing under load must not depend on the sealer failing and being restarted
my @sealer_errors = grep { /agent_guard sealer.*exited with exit code|XX000|an event to seal/ }
  split /\n/, slurp_file($node->logfile);
is(scalar(@sealer_errors), 0, 'the sealer never failed under the load')
  or diag(join("\n", @sealer_errors[0 .. ($#sealer_errors < 4 ? $#sealer_errors : 4)]));

# the order of seals is the order the sealer found commits, not event_id order
note('events sealed out of event_id order: '
	  . $node->safe_psql('postgres',
		'SELECT count(*) FROM (SELECT event_id < lag(event_id) OVER (ORDER BY seal_seq) AS back FROM agent_guard.event_seals) x WHERE back'));

# a clean restart: the head kept outside still verifies; sealing resumes
my $head = $node->safe_psql('postgres', 'SELECT agent_guard.log_head()');
$node->restart;
like(verify($head), qr/^true\|/, 'the head taken before a restart verifies after it');
$node->safe_psql('postgres', "UPDATE items SET v = 'after restart' WHERE id = 0", extra_params => [ '-U', 'bot' ]);
ok(defined ag_wait_sealed($node, 'postgres', 15), 'the sealer is back after a restart');
like(verify($head), qr/^true\|/, 'the old head is still contained in the longer chain');

# a crash with unsealed events: they are sealed after recovery
$node->safe_psql('postgres', "ALTER SYSTEM SET agent_guard.seal_interval = '60s'");
$node->reload;
$head = $node->safe_psql('postgres', 'SELECT agent_guard.log_head()');
$node->safe_psql('postgres', "INSERT INTO items SELECT g, 'before crash' FROM generate_series(300001, 300100) g",
	extra_params => [ '-U', 'bot' ]);
$node->stop('immediate');
$node->start;
ok(defined ag_wait_sealed($node, 'postgres', 15), 'events committed before a crash are sealed after it');
like(verify($head), qr/^true\|/, 'the head taken before the crash verifies after it');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM agent_guard.events WHERE new_row->>'v' = 'before crash' AND event_id IN (SELECT c.event_id FROM agent_guard.event_seals c)"),
	'100', 'all of them');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET agent_guard.seal_interval');
$node->reload;

# the sealer leaves a database it serves when it is dropped
$node->safe_psql('postgres', 'CREATE DATABASE scratch');
$node->safe_psql('scratch', q{
	CREATE EXTENSION agent_guard;
	CREATE TABLE t (id int PRIMARY KEY);
	SELECT agent_guard.protect('t');
});
my $deadline = time + 10;
usleep(100_000)
  until time > $deadline
  || $node->safe_psql('postgres',
	"SELECT count(*) FROM agent_guard.sealer_status() WHERE database = 'scratch' AND pid > 0") eq '1';
is($node->safe_psql('postgres',
		"SELECT count(*) FROM agent_guard.sealer_status() WHERE database = 'scratch' AND pid > 0"),
	'1', 'a new database with the extension gets its own sealer');
my ($rc, $o, $e) = $node->psql('postgres', 'DROP DATABASE scratch');
is($rc, 0, 'DROP DATABASE is not blocked by the sealer') or diag($e);

$node->stop;
done_testing();
