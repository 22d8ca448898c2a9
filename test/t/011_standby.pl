# A streaming standby of a guarded primary: the event log, its seals and
# the soft-deleted rows replicate; runs, postmortem, verify_log and a
# rollback preview work read-only on the standby, and what must write
# (sealing, applying a rollback) says it cannot there.  After promotion,
# a run made on the old primary rolls back on the new one, the new
# primary's sealer continues the chain and it verifies against the head
# taken on the old primary.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AgentGuardTest;
use Time::HiRes qw(usleep);

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'\n");
$primary->start;
$primary->safe_psql('postgres', q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE sb_bot LOGIN;
	CREATE TABLE items (id int PRIMARY KEY, v text);
	ALTER TABLE items OWNER TO sb_bot;
	SELECT agent_guard.protect('items');
	SELECT agent_guard.register_agent('sb_bot');
});



my ($rc, $out, $err) = ag_agent_psql($primary, 'postgres', 'sb_bot', 'r-early', q{
	INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 20) g;
	UPDATE items SET v = 'changed' WHERE id <= 5;
	DELETE FROM items WHERE id BETWEEN 16 AND 20;
});
is($rc, 0, 'an agent run on the primary') or diag($err);
ok(ag_wait_sealed($primary), 'sealed on the primary');

$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;

($rc, $out, $err) = ag_agent_psql($primary, 'postgres', 'sb_bot', 'r-late', q{
	INSERT INTO items VALUES (100, 'late');
	UPDATE items SET v = 'late' WHERE id = 6;
	DELETE FROM items WHERE id = 7;
});
is($rc, 0, 'a second run on the primary') or diag($err);
ok(ag_wait_sealed($primary), 'sealed');
my $head = $primary->safe_psql('postgres', 'SELECT agent_guard.log_head()');
$primary->wait_for_catchup($standby);

# the standby has the log, the seals and the soft deletes
my $log_sql = q{SELECT count(*) || '|' || md5(string_agg(e::text, ',' ORDER BY event_id)) FROM agent_guard.events e};
is($standby->safe_psql('postgres', $log_sql), $primary->safe_psql('postgres', $log_sql),
	'the event log and its seals replicate');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM items WHERE ag_deleted_at IS NOT NULL'),
	'6', 'soft-deleted rows replicate, marked');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM items', extra_params => [ '-U', 'sb_bot' ]),
	'15', 'and stay hidden from the agent on the standby');

# read-only functions on the standby
is($standby->safe_psql('postgres', "SELECT string_agg(run_id || ':' || inserted || '/' || updated || '/' || soft_deleted || '/' || status, ',' ORDER BY run_id) FROM agent_guard.runs"),
	'r-early:20/5/5/active,r-late:1/1/1/active', 'agent_guard.runs works on the standby');
like($standby->safe_psql('postgres', "SELECT ok || '|' || detail FROM agent_guard.verify_log('$head')"),
	qr/^true\|/, 'verify_log works on the standby');
is($standby->safe_psql('postgres', 'SELECT agent_guard.log_head()'), $head, 'log_head on the standby');
like($standby->safe_psql('postgres', "SELECT agent_guard.postmortem('r-early')"),
	qr/r-early/, 'postmortem works on the standby');
for my $apply ('false', 'true')
{
	($rc, $out, $err) = $standby->psql('postgres', "SELECT * FROM agent_guard.rollback_run('r-late', apply => $apply)");
	isnt($rc, 0, "rollback_run(apply => $apply) on the standby is refused (the plan needs a temporary table)");
	like($err, qr/ERROR:  cannot plan or apply a rollback during recovery\n.*HINT:  Run it on the primary/s,
		'saying why and where to run it');
}
($rc, $out, $err) = $standby->psql('postgres', 'SELECT agent_guard.seal_log()');
isnt($rc, 0, 'seal_log on the standby is refused');
like($err, qr/ERROR:  cannot seal the event log during recovery\n.*HINT:  The primary seals the log/s,
	'saying the primary seals the log');
($rc, $out, $err) = ag_agent_psql($standby, 'postgres', 'sb_bot', 'r-standby', "INSERT INTO items VALUES (200, 'x')");
like($err, qr/read-only transaction/, 'an agent cannot write on the standby either');

# promotion: the old primary's run rolls back on the new primary
$primary->stop;
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or BAIL_OUT('promotion failed');
($rc, $out, $err) = $standby->psql('postgres',
	"SELECT string_agg(status, ',') FROM agent_guard.rollback_run('r-late', apply => true)");
is($rc, 0, 'a run made on the old primary rolls back on the new one') or diag($err);
is($standby->safe_psql('postgres',
		"SELECT count(*) FILTER (WHERE id = 100) || '|' || min(v) FILTER (WHERE id = 6) || '|' || count(*) FILTER (WHERE id = 7 AND ag_deleted_at IS NULL) FROM items"),
	'0|v6|1', 'exactly: insert removed, update restored, soft delete brought back');
($rc, $out, $err) = ag_agent_psql($standby, 'postgres', 'sb_bot', 'r-new', "INSERT INTO items VALUES (300, 'on the new primary')");
is($rc, 0, 'the agent writes on the new primary') or diag($err);
ok(ag_wait_sealed($standby), "the new primary's sealer seals the compensations and the new run");
is($standby->safe_psql('postgres', 'SELECT count(*) = max(seal_seq) FROM agent_guard.event_seals'),
	't', 'the chain continues without a gap');
like($standby->safe_psql('postgres', "SELECT ok || '|' || detail FROM agent_guard.verify_log('$head')"),
	qr/^true\|/, "the chain verifies and contains the old primary's head");

$standby->stop;
done_testing();
