# pg_dump / pg_restore of a guarded database brings back a working guard:
# the registered agents, the protected tables with their stamps, soft
# deletes hidden by their policy, triggers that still capture, the event
# log with its statements and seals (verifying against the head taken
# before the dump), the archive and its checkpoint, applied idempotency keys
# that still refuse a retry, and a sealer that continues the chain.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AgentGuardTest;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'\n");
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE dump_bot LOGIN;
	CREATE SCHEMA app AUTHORIZATION dump_bot;
	CREATE TABLE app.items (id int PRIMARY KEY, v text);
	CREATE TABLE app.orders (id int PRIMARY KEY, item int REFERENCES app.items, qty int);
	ALTER TABLE app.items OWNER TO dump_bot;
	ALTER TABLE app.orders OWNER TO dump_bot;
	SELECT agent_guard.protect('app.items');
	SELECT agent_guard.protect('app.orders', false);
	SELECT agent_guard.register_agent('dump_bot', 'dump-agent');
	-- red team 36, F05: the agent's CHECK calls its own function, in a schema
	-- whose data pg_dump writes before the guard's (acct < agent_guard); the
	-- restore must run it as the agent, never as the restoring superuser
	CREATE SCHEMA acct AUTHORIZATION dump_bot;
});
$node->safe_psql('src', q{
	CREATE FUNCTION acct.not_superuser(x int) RETURNS boolean LANGUAGE sql
		AS $$ SELECT NOT rolsuper FROM pg_roles WHERE rolname = current_user $$;
	CREATE TABLE acct.ledger (x int CHECK (acct.not_superuser(x)));
	INSERT INTO acct.ledger VALUES (1), (2);
}, extra_params => [ '-U', 'dump_bot' ]);



# an old run, archived; then the runs that stay in the live log
my ($rc, $out, $err) = ag_agent_psql($node, 'src', 'dump_bot', 'r-old', "INSERT INTO app.items SELECT g, 'old' FROM generate_series(1, 20) g");
is($rc, 0, 'old run written') or diag($err);
ok(ag_wait_sealed($node, 'src'), 'old run sealed');
$node->safe_psql('src', "SELECT agent_guard.archive_log(now() + interval '1 minute')");
($rc, $out, $err) = ag_agent_psql($node, 'src', 'dump_bot', 'r-one', q{
	BEGIN;
	SET LOCAL agent_guard.idempotency_key = 'k-1';
	INSERT INTO app.items SELECT g, 'v' || g FROM generate_series(21, 40) g;
	INSERT INTO app.orders VALUES (1, 21, 5), (2, 22, 7);
	COMMIT;
	UPDATE app.items SET v = 'changed' WHERE id BETWEEN 21 AND 25;
	DELETE FROM app.items WHERE id BETWEEN 36 AND 40;
});
is($rc, 0, 'agent run written') or diag($err);
ok(ag_wait_sealed($node, 'src'), 'everything sealed before the dump');
my $head = $node->safe_psql('src', 'SELECT agent_guard.log_head()');

my $state_sql = q{
	SELECT (SELECT string_agg(format('%s|%s', role, agent_id), ',' ORDER BY agent_id) FROM agent_guard.registered_agents)
	  || ' # ' || (SELECT string_agg(format('%s|%s|%s', relation, soft_delete, key_columns), ',' ORDER BY relation::text) FROM agent_guard.protected_tables)
	  || ' # ' || (SELECT count(*) || '|' || md5(string_agg(e::text, ',' ORDER BY event_id)) FROM agent_guard.events e)
	  || ' # ' || (SELECT count(*) || '|' || md5(string_agg(s::text, ',' ORDER BY statement_id)) FROM agent_guard.statements s)
	  || ' # ' || (SELECT count(*) || '|' || md5(string_agg(a::text, ',' ORDER BY event_id)) FROM agent_guard.events_archive a)
	  || ' # ' || (SELECT count(*) || '|' || md5(string_agg(c::text, ',' ORDER BY checkpoint_id)) FROM agent_guard.log_checkpoints c)
	  || ' # ' || (SELECT string_agg(format('%s|%s|%s|%s', agent_id, key, run_id, xid), ',') FROM agent_guard.applied_keys)
	  || ' # ' || (SELECT format('%s|%s|%s|%s', last_seq, encode(last_seal, 'hex'), checkpoint_seq, encode(checkpoint_seal, 'hex')) FROM agent_guard.chain_state)
	  || ' # ' || (SELECT md5(string_agg(i::text, ',' ORDER BY id)) FROM app.items i)
	  || ' # ' || (SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM app.orders o)
};
my $before = $node->safe_psql('src', $state_sql);

# dump, restore into a new database
my $dump = PostgreSQL::Test::Utils::tempdir . '/src.dump';
command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('src') ], 'pg_dump of a guarded database');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
# the README's restore, in four steps: the guard's registry before any
# user data, so that the agent's code in the data (a CHECK, a domain, a
# generated column) runs as the agent (red team 36, F05)
my @steps = (
	[ '--section=pre-data' ],
	[ '--data-only', '--schema=agent_guard' ],
	[ '--section=data', '--exclude-schema=agent_guard' ],
	[ '--section=post-data' ]);
for my $step (@steps)
{
	($out, $err) = ('', '');
	my $ok = IPC::Run::run([ 'pg_restore', '--exit-on-error', @$step, '-d', $node->connstr('dst'), $dump ],
		'>', \$out, '2>', \$err);
	ok($ok, "pg_restore @$step without an error") or diag($err);
}
is($node->safe_psql('dst', 'SELECT count(*) FROM acct.ledger'), '2',
	"the agent's CHECK ran in the restore, as the agent (it refuses a superuser)");
is($node->safe_psql('dst', "SELECT rolsuper FROM pg_roles WHERE rolname = 'dump_bot'"), 'f',
	'the agent role is no superuser after the restore');

is($node->safe_psql('dst', $state_sql), $before,
	'agents, protected tables, log, statements, archive, checkpoints, keys, chain head and data all came back');
like($node->safe_psql('dst', "SELECT ok || '|' || detail FROM agent_guard.verify_log('$head')"),
	qr/^true\|/, 'the restored log verifies against the head taken before the dump');
is($node->safe_psql('dst', q{SELECT count(*) FROM pg_trigger
	WHERE tgrelid IN ('app.items'::regclass, 'app.orders'::regclass) AND tgname LIKE 'zz_agent_guard%'}),
	'6', 'the stamp, capture and TRUNCATE triggers are back');

# the guard works in the restored database
is($node->safe_psql('dst', 'SELECT count(*) FROM app.items', extra_params => [ '-U', 'dump_bot' ]),
	'35', 'soft-deleted rows are still hidden from the agent');
($rc, $out, $err) = ag_agent_psql($node, 'dst', 'dump_bot', 'r-retry', q{
	BEGIN;
	SET LOCAL agent_guard.idempotency_key = 'k-1';
	INSERT INTO app.items VALUES (100, 'retry');
	COMMIT;
});
like($err, qr/idempotency key "k-1" was already applied/, 'an applied idempotency key still refuses the retry');
($rc, $out, $err) = ag_agent_psql($node, 'dst', 'dump_bot', 'r-two', q{
	INSERT INTO app.items VALUES (101, 'after restore');
	UPDATE app.items SET v = 'touched' WHERE id = 5;
});
is($rc, 0, 'the agent writes in the restored database') or diag($err);
is($node->safe_psql('dst', "SELECT ag_agent_id || '|' || ag_run_id FROM app.items WHERE id = 101"),
	'dump-agent|r-two', 'the write is stamped');
is($node->safe_psql('dst', "SELECT count(*) FROM agent_guard.events WHERE run_id = 'r-two'"),
	'2', 'and logged');
ok(ag_wait_sealed($node, 'dst'), 'the sealer of the restored database seals the new events');
is($node->safe_psql('dst', 'SELECT max(seal_seq) = count(*) + (SELECT count(*) FROM agent_guard.events_archive) FROM agent_guard.event_seals'),
	't', 'the chain continues after the restored positions without a gap');
like($node->safe_psql('dst', "SELECT ok || '|' || detail FROM agent_guard.verify_log('$head')"),
	qr/^true\|/, 'the longer chain verifies and still contains the old head');

# a run made before the dump rolls back in the restored database
($rc, $out, $err) = $node->psql('dst', "SELECT count(*) FROM agent_guard.rollback_run('r-one', apply => true)");
is($rc, 0, 'rollback_run of a run recorded before the dump') or diag($err);
is($node->safe_psql('dst', "SELECT count(*) FROM app.items WHERE id BETWEEN 21 AND 40")
	  . '|' . $node->safe_psql('dst', 'SELECT count(*) FROM app.orders'),
	'0|0', 'the run is undone, soft-deleted rows included');
ok(ag_wait_sealed($node, 'dst'), 'compensations sealed');
like($node->safe_psql('dst', "SELECT ok FROM agent_guard.verify_log('$head')"), qr/^t$/, 'the log verifies after the rollback');

# the row security app.items had before protect() came back with it (new
# oids: it is kept by relation, dumped by name), and unprotect() puts it back
is($node->safe_psql('dst', q{
	SELECT string_agg(format('%s|%s|%s', relation, row_security, force_row_security), ',' ORDER BY relation::text)
	  FROM agent_guard.rls_before}),
	'app.items|f|f', 'the row security kept before protect() is restored with its table');
$node->safe_psql('dst', "SELECT agent_guard.unprotect('app.items')");
is($node->safe_psql('dst', q{
	SELECT format('%s|%s|%s', c.relrowsecurity, c.relforcerowsecurity,
	              (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid))
	  FROM pg_class c WHERE c.oid = 'app.items'::regclass}),
	'f|f|0', 'unprotect() in the restored database puts its row security back');

# the restored extension is current (016_upgrade.pl updates an old one)
($rc, $out, $err) = $node->psql('dst', 'ALTER EXTENSION agent_guard UPDATE');
is($rc, 0, 'ALTER EXTENSION agent_guard UPDATE of the restored extension is harmless') or diag($err);
like($err, qr/version "[0-9.]+" of extension "agent_guard" is already installed/, 'and says it is current');

$node->stop;
done_testing();
