# Refusals come before side effects.
#
# In 1.1 the sealer's ProcessUtility hook ran before the gates: an agent's
# DROP EXTENSION agent_guard (refused outright) and DROP DATABASE (refused
# until a human approves) first stopped the sealer of the database, and
# only then were refused.  The hooks now refuse first; the sealer of each
# database must keep running, with the same pid.  A human's DROP DATABASE
# still stops the sealer it needs gone.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use AgentGuardTest;

my $node = PostgreSQL::Test::Cluster->new('refuse_first');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'\n"
	  . "agent_guard.seal_interval = 50\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE ROLE rf_bot LOGIN CREATEDB;
	CREATE EXTENSION agent_guard;
	SELECT agent_guard.register_agent('rf_bot');
	CREATE DATABASE rf_other OWNER rf_bot;
});
$node->safe_psql('rf_other', 'CREATE EXTENSION agent_guard');

# the sealer of a database, once it runs
sub sealer_pid
{
	my ($db) = @_;
	my $pid;
	for (1 .. 500)
	{
		$pid = $node->safe_psql('postgres',
			"SELECT pid FROM agent_guard.sealer_status() WHERE database = '$db'");
		return $pid if $pid ne '' && $pid ne '0';
		usleep(20_000);
	}
	return $pid;
}

sub alive
{
	my ($pid) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE pid = $pid AND backend_type = 'agent_guard sealer'");
}

my $here = sealer_pid('postgres');
my $other = sealer_pid('rf_other');
ok($here && $here ne '0', "a sealer serves postgres (pid $here)");
ok($other && $other ne '0', "a sealer serves rf_other (pid $other)");

my ($rc, $out, $err) = ag_agent_psql($node, 'postgres', 'rf_bot', 'run-rf',
	'DROP EXTENSION agent_guard');
isnt($rc, 0, 'the agent cannot drop the extension');
like($err, qr/DROP EXTENSION refused: it would weaken agent_guard/, 'refused as weakening the guard');

($rc, $out, $err) = ag_agent_psql($node, 'postgres', 'rf_bot', 'run-rf',
	'DROP DATABASE rf_other');
isnt($rc, 0, 'the agent cannot drop a database');
like($err, qr/DROP DATABASE needs a human's approval/, 'it needs a human');

# a stopped sealer would be gone by now (it ends at once on SIGTERM)
usleep(500_000);
is($node->safe_psql('postgres',
	"SELECT pid FROM agent_guard.sealer_status() WHERE database = 'postgres'"),
	$here, 'the sealer of postgres has the same pid');
is(alive($here), '1', 'and runs');
is($node->safe_psql('postgres',
	"SELECT pid FROM agent_guard.sealer_status() WHERE database = 'rf_other'"),
	$other, 'the sealer of rf_other has the same pid');
is(alive($other), '1', 'and runs');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_database WHERE datname = 'rf_other'"),
	'1', 'rf_other is still there');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_extension WHERE extname = 'agent_guard'"), '1',
	'the extension is still there');

# a human's DROP DATABASE stops the sealer and goes through
$node->safe_psql('postgres', 'DROP DATABASE rf_other');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_database WHERE datname = 'rf_other'"),
	'0', "a human's DROP DATABASE goes through");
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $other"), 'its sealer is gone');

$node->stop;
done_testing();
