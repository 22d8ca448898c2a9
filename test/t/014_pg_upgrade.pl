# pg_upgrade of a guarded cluster to a fresh one of the same major (15 to
# 15, 18 to 18: the binaries under test).  With agent_guard in
# shared_preload_libraries of both, the binary-upgrade servers run nothing of the guard (no hooks,
# no launcher or sealers: _PG_init returns under IsBinaryUpgrade), pg_upgrade
# succeeds, and the upgraded cluster has the agents, the protected tables,
# the log verifying against the head taken before, a sealer continuing the
# chain, and runs that roll back.
use strict;
use warnings;
use Cwd;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AgentGuardTest;
use Time::HiRes qw(usleep);

# debug1 makes the postmaster log "registering background worker ..."
my $conf = "shared_preload_libraries = 'agent_guard'\nlog_min_messages = debug1\n";
my $old = PostgreSQL::Test::Cluster->new('old');
$old->init;
$old->append_conf('postgresql.conf', $conf);
$old->start;
$old->safe_psql('postgres', q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE up_bot LOGIN;
	CREATE TABLE items (id int PRIMARY KEY, v text);
	ALTER TABLE items OWNER TO up_bot;
	SELECT agent_guard.protect('items');
	SELECT agent_guard.register_agent('up_bot');
});



my ($rc, $out, $err) = ag_agent_psql($old, 'postgres', 'up_bot', 'r-before', q{
	BEGIN;
	SET LOCAL agent_guard.idempotency_key = 'k';
	INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 20) g;
	COMMIT;
	UPDATE items SET v = 'changed' WHERE id <= 5;
	DELETE FROM items WHERE id > 15;
});
is($rc, 0, 'an agent run before the upgrade') or diag($err);
ok(ag_wait_sealed($old), 'sealed');
my $head = $old->safe_psql('postgres', 'SELECT agent_guard.log_head()');
my $log_sql = q{SELECT count(*) || '|' || md5(string_agg(e::text, ',' ORDER BY event_id)) FROM agent_guard.events e};
my $log_before = $old->safe_psql('postgres', $log_sql);
$old->stop;

my $new = PostgreSQL::Test::Cluster->new('new');
$new->init;
$new->append_conf('postgresql.conf', $conf);

my $bindir = $new->config_data('--bindir');
my $cwd = getcwd;
my $workdir = PostgreSQL::Test::Utils::tempdir;
chdir $workdir;
command_ok(
	[
		'pg_upgrade', '--no-sync', '--retain',
		'-d', $old->data_dir, '-D', $new->data_dir,
		'-b', $bindir, '-B', $bindir,
		'-s', $new->host, '-p', $old->port, '-P', $new->port
	],
	'pg_upgrade of a guarded cluster');
chdir $cwd;

# the binary-upgrade servers started no worker of ours
my $upgrade_logs = '';
for my $f (glob($new->data_dir . '/pg_upgrade_output.d/*/log/*.log'), glob($workdir . '/*.log'))
{
	$upgrade_logs .= slurp_file($f);
}
like($upgrade_logs, qr/DEBUG:  .*loaded library "agent_guard"/,
	'the binary-upgrade servers loaded agent_guard and logged at debug1');
SKIP:
{
	# PostgreSQL itself starts no logical replication launcher in binary
	# upgrade mode from 17 on
	skip 'from PostgreSQL 17 on, the binary-upgrade servers register no worker of their own', 1
	  if $new->pg_version >= 17;
	like($upgrade_logs, qr/DEBUG:  .*registering background worker "logical replication launcher"/,
		'the binary-upgrade servers logged their worker registrations');
}
unlike($upgrade_logs, qr/agent_guard (launcher|sealer)/, 'no launcher or sealer was registered under binary upgrade');

my $offset = -s $new->logfile // 0;
$new->start;
like(slurp_file($new->logfile, $offset), qr/registering background worker "agent_guard launcher"/,
	'(a normal start of the same cluster does register the launcher)');
is($new->safe_psql('postgres', $log_sql), $log_before, 'the event log came through unchanged');
like($new->safe_psql('postgres', "SELECT ok || '|' || detail FROM agent_guard.verify_log('$head')"),
	qr/^true\|/, 'it verifies against the head taken before the upgrade');
is($new->safe_psql('postgres', 'SELECT count(*) FROM items', extra_params => [ '-U', 'up_bot' ]),
	'15', 'soft-deleted rows stay hidden from the agent');
($rc, $out, $err) = ag_agent_psql($new, 'postgres', 'up_bot', 'r-retry', q{
	BEGIN;
	SET LOCAL agent_guard.idempotency_key = 'k';
	INSERT INTO items VALUES (100, 'retry');
	COMMIT;
});
like($err, qr/idempotency key "k" was already applied/, 'the applied key still refuses a retry');
($rc, $out, $err) = ag_agent_psql($new, 'postgres', 'up_bot', 'r-after', "INSERT INTO items VALUES (101, 'after')");
is($rc, 0, 'the agent writes after the upgrade') or diag($err);
is($new->safe_psql('postgres', "SELECT ag_run_id FROM items WHERE id = 101"), 'r-after', 'stamped');
ok(ag_wait_sealed($new), 'the sealer runs on the upgraded cluster');
($rc, $out, $err) = $new->psql('postgres', "SELECT count(*) FROM agent_guard.rollback_run('r-before', apply => true)");
is($rc, 0, 'a run from before the upgrade rolls back') or diag($err);
is($new->safe_psql('postgres', 'SELECT string_agg(id::text, \',\') FROM items'), '101', 'exactly');
$new->safe_psql('postgres', 'SELECT agent_guard.seal_log()');
like($new->safe_psql('postgres', "SELECT ok || '|' || detail FROM agent_guard.verify_log('$head')"),
	qr/^true\|/, 'the chain continues and verifies');

$new->stop;
done_testing();
