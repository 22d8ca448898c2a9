# No database setting and no command an agent may not run stops the sealer.
#
# In 1.1 the sealer took the database's settings like any session: with
# ALTER DATABASE ... SET default_transaction_read_only = on (or role = an
# agent role) it failed at every batch after a restart, for good.  And a
# command that needs the database without sessions (CREATE DATABASE x
# TEMPLATE guarded_db, ALTER DATABASE ... RENAME) stopped the sealer before
# PostgreSQL checked the right to run it: an agent without CREATEDB stopped
# it at will.  Now the sealer pins its own settings, the database settings
# need a human's approval when an agent makes them, and a sealer is stopped
# only for a command the session may run, and asked for again after it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use AgentGuardTest;

my $node = PostgreSQL::Test::Cluster->new('sealer_unstoppable');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'\n"
	  . "agent_guard.seal_interval = 50\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE ROLE su_bot LOGIN;
	CREATE ROLE su_human LOGIN;
	CREATE DATABASE su_db OWNER su_bot;
});
$node->safe_psql('su_db', q{
	CREATE EXTENSION agent_guard;
	SELECT agent_guard.register_agent('su_bot');
	CREATE TABLE public.items (id int PRIMARY KEY, v text);
	INSERT INTO public.items SELECT g, 'v' || g FROM generate_series(1, 10) g;
	GRANT SELECT, INSERT, UPDATE, DELETE ON public.items TO su_bot;
	SELECT agent_guard.protect('public.items');
});

# queries of the test itself, whatever the database's settings say
sub q_db
{
	my ($sql) = @_;
	return $node->safe_psql('su_db', $sql,
		connstr => $node->connstr('su_db')
		  . " options='-c role=none -c default_transaction_read_only=off'");
}

sub sealer_pid
{
	my $pid;
	for (1 .. 500)
	{
		$pid = q_db("SELECT pid FROM agent_guard.sealer_status() WHERE database = 'su_db'");
		return $pid if $pid ne '' && $pid ne '0';
		usleep(20_000);
	}
	return $pid;
}

my ($rc, $out, $err) = ag_agent_psql($node, 'su_db', 'su_bot', 'run-su-1',
	"UPDATE items SET v = 'before' WHERE id = 1");
is($rc, 0, 'the agent writes');
ok(defined ag_wait_sealed($node, 'su_db'), 'and its event is sealed');
my $pid = sealer_pid();
ok($pid && $pid ne '0', "a sealer serves su_db (pid $pid)");

# an agent without CREATEDB: PostgreSQL refuses, and the sealer runs on
($rc, $out, $err) = ag_agent_psql($node, 'su_db', 'su_bot', 'run-su-1',
	'CREATE DATABASE su_copy TEMPLATE su_db');
isnt($rc, 0, 'the agent cannot copy the database');
like($err, qr/permission denied to create database/, "PostgreSQL's own error");
# a human without the right to drop the extension: the same
($rc, $out, $err) = $node->psql('su_db', 'DROP EXTENSION agent_guard',
	connstr => $node->connstr('su_db') . ' user=su_human');
like($err, qr/must be owner of extension agent_guard/, "a human who may not drop the extension gets PostgreSQL's error");
usleep(500_000);
is(q_db("SELECT pid FROM agent_guard.sealer_status() WHERE database = 'su_db'"),
	$pid, 'the sealer has the same pid');

# settings of every session of the database: the agent needs a human
($rc, $out, $err) = ag_agent_psql($node, 'su_db', 'su_bot', 'run-su-1',
	'ALTER DATABASE su_db SET default_transaction_read_only = on');
isnt($rc, 0, 'the agent cannot set default_transaction_read_only for the database');
like($err, qr/ALTER DATABASE needs a human's approval: request (\d+)/, 'it needs a human');
my ($req) = $err =~ /request (\d+)/;
q_db("SELECT agent_guard._flush_requests(); SELECT agent_guard.approve($req)");
($rc, $out, $err) = ag_agent_psql($node, 'su_db', 'su_bot', 'run-su-1',
	'ALTER DATABASE su_db SET default_transaction_read_only = on');
is($rc, 0, 'approved, it goes through');
# a human adds what else would stop a sealer that took them
$node->safe_psql('postgres', q{
	ALTER DATABASE su_db SET role = 'su_bot';
	ALTER DATABASE su_db SET lock_timeout = '1ms';
	ALTER DATABASE su_db SET search_path = 'public';
});
$node->restart;

($rc, $out, $err) = ag_agent_psql($node, 'su_db', 'su_bot', 'run-su-2',
	"SET default_transaction_read_only = off; UPDATE items SET v = 'after restart' WHERE id = 2");
is($rc, 0, 'the agent writes after the restart') or diag($err);
my $unsealed;
for (1 .. 500)
{
	$unsealed = q_db('SELECT count(*) FROM agent_guard.events e WHERE NOT EXISTS (SELECT 1 FROM agent_guard.event_seals c WHERE c.event_id = e.event_id)');
	last if $unsealed eq '0';
	usleep(20_000);
}
is($unsealed, '0', 'its event is sealed: nothing is left unsealed');
is(q_db('SELECT ok FROM agent_guard.verify_log()'), 't', 'the log verifies');
my $log = slurp_file($node->logfile);
unlike($log, qr/read-only transaction|permission denied for|lock timeout/,
	'the sealer met none of the settings');

# a human who may copy the database: the sealer stops for it, and is back
$node->safe_psql('postgres', 'CREATE DATABASE su_copy TEMPLATE su_db');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_database WHERE datname = 'su_copy'"),
	'1', "a superuser's CREATE DATABASE ... TEMPLATE goes through");
my $again = sealer_pid();
ok($again && $again ne '0', "the sealer of su_db runs again (pid $again)");

$node->stop;
done_testing();
