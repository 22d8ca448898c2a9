# pg_upgrade of a guarded cluster from one major to the next, as users move
# (15 to 18): the old cluster runs the old major's server with its own
# agent_guard build, the new one this major's.  The events sealed by the old
# server (rows of many types, printed and hashed by the old build) verify
# on the new one against the head taken before, the chain continues, the
# agent's soft-deleted rows stay hidden, its applied key still refuses a
# retry, and a run from before the upgrade rolls back.
#
# It runs where test/check.sh tested the older major in the same run and
# passes its installation in AG_UPGRADE_FROM (the directory holding bin/);
# elsewhere it says why it is skipped.
use strict;
use warnings;
use Cwd;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AgentGuardTest;

my $from = $ENV{AG_UPGRADE_FROM};
plan skip_all => 'no older major in this run (check.sh sets AG_UPGRADE_FROM when it tested 15 before this major)'
  unless $from && -x "$from/bin/pg_config";
my $from_lib = `"$from/bin/pg_config" --pkglibdir`;
chomp $from_lib;
plan skip_all => "agent_guard is not installed in $from_lib" unless -e "$from_lib/agent_guard.so";

my $conf = "shared_preload_libraries = 'agent_guard'\n";
my $old = PostgreSQL::Test::Cluster->new('old', install_path => $from);
my $new = PostgreSQL::Test::Cluster->new('new');
ok($old->pg_version < $new->pg_version,
	'upgrading from PostgreSQL ' . $old->pg_version . ' to ' . $new->pg_version);

$old->init;
$old->append_conf('postgresql.conf', $conf);
$old->start;
$old->safe_psql('postgres', q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE up_bot LOGIN;
	CREATE TABLE items (id int PRIMARY KEY, v text, n numeric, f8 float8, f4 real, ts timestamptz,
		d date, j jsonb, by bytea, a int[], u uuid, iv interval);
	ALTER TABLE items OWNER TO up_bot;
	SELECT agent_guard.protect('items');
	SELECT agent_guard.register_agent('up_bot');
});

# values whose printed form a printer could change: long and negative
# numerics, floats at their precision's edge, infinities, times,
# non-ASCII and escaped text, nested json, every byte value, NULLs
my ($rc, $out, $err) = ag_agent_psql($old, 'postgres', 'up_bot', 'r-before', q{
	SET extra_float_digits = 3;
	BEGIN;
	SET LOCAL agent_guard.idempotency_key = 'k';
	INSERT INTO items SELECT g, 'v' || g || E' caf\u00e9 \u2603 "q" \\ \t', (g * 1.1)::numeric ^ 7 - 1e20,
		1.0 / g::float8, 1.0::real / g, '2026-03-29 01:30:00+00'::timestamptz + g * interval '37 minutes',
		'2000-02-28'::date + g, jsonb_build_object('g', g, 'nested', jsonb_build_array(1.50, 'x', NULL, true)),
		decode(lpad(to_hex(g), 2, '0') || '00ff5c27', 'hex'), ARRAY[g, -g, NULL],
		md5(g::text)::uuid, make_interval(days => g, secs => g / 7.0)
	FROM generate_series(1, 20) g;
	INSERT INTO items (id, n, f8, f4) VALUES (21, 'NaN', 'Infinity', '-Infinity'),
		(22, -0.000000000000000000001, 1e308, 1.17549435e-38), (23, NULL, NULL, NULL);
	COMMIT;
	UPDATE items SET v = 'changed', f8 = f8 * 3 WHERE id <= 5;
	DELETE FROM items WHERE id > 15 AND id <= 20;
});
is($rc, 0, 'an agent run on the old major') or diag($err);
ok(ag_wait_sealed($old), 'sealed by the old major');
my $head = $old->safe_psql('postgres', 'SELECT agent_guard.log_head()');
my $log_sql = q{SELECT count(*) || '|' || md5(string_agg(e::text, ',' ORDER BY event_id)) FROM agent_guard.events e};
my $log_before = $old->safe_psql('postgres', $log_sql);
my $rows_sql = q{SELECT md5(string_agg(i::text, ',' ORDER BY id)) FROM items i};
my $rows_before = $old->safe_psql('postgres', $rows_sql);
# column options of the old server's own, which pg_upgrade carries over
my $old_attopts = $old->safe_psql('postgres', q{
	SELECT string_agg(DISTINCT split_part(o, '=', 1), ',')
	  FROM pg_attribute, unnest(attoptions) o WHERE attrelid = 'items'::regclass});
$old->stop;

# pg_upgrade needs the new cluster's data checksums as the old one's (18's
# initdb turns them on by default; 15's left them off)
$new->init(extra => $new->pg_version >= 18 ? ['--no-data-checksums'] : []);
$new->append_conf('postgresql.conf', $conf);

# PostgreSQL 15.20 stores a column option (pg_attver) on every column, and
# pg_upgrade restores it with ALTER COLUMN ... SET; a new major released
# before it does not know the option and no pg_upgrade from such an old
# server to it can work, guarded or not.  That is checked, not assumed.
my @unknown;
if ($old_attopts ne '')
{
	$new->start;
	for my $opt (split /,/, $old_attopts)
	{
		my ($rc) = $new->psql('postgres',
			"CREATE TEMP TABLE probe (c int); ALTER TABLE probe ALTER COLUMN c SET ($opt = 1)");
		push @unknown, $opt if $rc != 0;
	}
	$new->stop;
}
if (@unknown)
{
	diag('pg_upgrade from ' . $old->pg_version . ' to ' . $new->pg_version . ' cannot work: '
		  . 'the old server sets column options the new one refuses (' . join(', ', @unknown) . ')');
	SKIP:
	{
		skip 'PostgreSQL ' . $old->pg_version . ' sets column options (' . join(', ', @unknown)
		  . ') that ' . $new->pg_version . ' refuses: no pg_upgrade between them works', 1;
	}
	done_testing();
	exit 0;
}
my $cwd = getcwd;
my $workdir = PostgreSQL::Test::Utils::tempdir;
chdir $workdir;
command_ok(
	[
		'pg_upgrade', '--no-sync',
		'-d', $old->data_dir, '-D', $new->data_dir,
		'-b', $old->config_data('--bindir'), '-B', $new->config_data('--bindir'),
		'-s', $new->host, '-p', $old->port, '-P', $new->port
	],
	'pg_upgrade of a guarded cluster to the new major');
chdir $cwd;

$new->start;
is($new->safe_psql('postgres', $log_sql), $log_before, 'the event log came through unchanged');
is($new->safe_psql('postgres', $rows_sql), $rows_before, 'and the rows');
like($new->safe_psql('postgres', "SELECT ok || '|' || detail FROM agent_guard.verify_log('$head')"),
	qr/^true\|/, 'the events sealed by the old major verify on the new one against the head taken before');
is($new->safe_psql('postgres', 'SELECT count(*) FROM items', extra_params => [ '-U', 'up_bot' ]),
	'18', 'soft-deleted rows stay hidden from the agent');
($rc, $out, $err) = ag_agent_psql($new, 'postgres', 'up_bot', 'r-retry', q{
	BEGIN;
	SET LOCAL agent_guard.idempotency_key = 'k';
	INSERT INTO items (id) VALUES (100);
	COMMIT;
});
like($err, qr/idempotency key "k" was already applied/, 'the applied key still refuses a retry');
($rc, $out, $err) = ag_agent_psql($new, 'postgres', 'up_bot', 'r-after',
	"INSERT INTO items (id, n, j) VALUES (101, 1e-30, '{\"after\": [1.0, 2]}')");
is($rc, 0, 'the agent writes on the new major') or diag($err);
is($new->safe_psql('postgres', "SELECT ag_run_id FROM items WHERE id = 101"), 'r-after', 'stamped');
ok(ag_wait_sealed($new), 'the new major seals it');
like($new->safe_psql('postgres', "SELECT ok || '|' || detail FROM agent_guard.verify_log('$head')"),
	qr/^true\|/, 'the chain continues across the upgrade and verifies');
($rc, $out, $err) = $new->psql('postgres', "SELECT count(*) FROM agent_guard.rollback_run('r-before', apply => true)");
is($rc, 0, 'a run from the old major rolls back on the new one') or diag($err);
is($new->safe_psql('postgres', 'SELECT string_agg(id::text, \',\' ORDER BY id) FROM items'), '101', 'exactly');
$new->safe_psql('postgres', 'SELECT agent_guard.seal_log()');
like($new->safe_psql('postgres', "SELECT ok || '|' || detail FROM agent_guard.verify_log('$head')"),
	qr/^true\|/, 'and the whole chain verifies');

$new->stop;
done_testing();
