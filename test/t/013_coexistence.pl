# agent_guard next to the other hook users people preload, pgaudit and
# pg_stat_statements, in each order: an agent workload (writes, a soft
# delete, a DO block, an idempotent retry, a refused shed of identity) is
# stamped, logged, sealed and rolled back as alone; pgaudit still audits
# and pg_stat_statements still counts; a human session sees no change
# (no event, NULL stamps).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $pkglib = `pg_config --pkglibdir`;
chomp $pkglib;
plan skip_all => "pgaudit is not installed in $pkglib (package postgresql-15-pgaudit)"
  unless -e "$pkglib/pgaudit.so";

my $node = PostgreSQL::Test::Cluster->new('coexist');
$node->init;
$node->append_conf('postgresql.conf', "pgaudit.log = 'write, ddl'\npgaudit.log_relation = on\n");

my $n = 0;
for my $order (
	'pg_stat_statements, pgaudit, agent_guard',
	'agent_guard, pgaudit, pg_stat_statements',
	'pgaudit, agent_guard, pg_stat_statements')
{
	$n++;
	$node->append_conf('postgresql.conf', "shared_preload_libraries = '$order'\n");
	$n == 1 ? $node->start : $node->restart;
	my $db = "db$n";
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, qq{
		CREATE EXTENSION pg_stat_statements;
		CREATE EXTENSION pgaudit;
		CREATE EXTENSION agent_guard;
		DO \$\$ BEGIN
			IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'co_bot') THEN
				CREATE ROLE co_bot LOGIN;
			END IF;
		END \$\$;
		CREATE TABLE items (id int PRIMARY KEY, v text);
		ALTER TABLE items OWNER TO co_bot;
		SELECT agent_guard.protect('items');
		SELECT agent_guard.register_agent('co_bot');
		SELECT pg_stat_statements_reset();
	});
	my $bot = $node->connstr($db) . " user=co_bot options='-c agent_guard.run_id=co-$n'";
	my $log_offset = -s $node->logfile;

	my ($rc, $out, $err) = $node->psql($db, q{
		INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 10) g;
		UPDATE items SET v = 'changed' WHERE id <= 3;
		DELETE FROM items WHERE id = 10;
		DO $$ BEGIN EXECUTE 'UPDATE items SET v = ''in a DO block'' WHERE id = 4'; END $$;
		BEGIN;
		SET LOCAL agent_guard.idempotency_key = 'once';
		INSERT INTO items VALUES (11, 'keyed');
		COMMIT;
	}, connstr => $bot, extra_params => [ '-v', 'ON_ERROR_STOP=1' ]);
	is($rc, 0, "[$order] the agent workload runs") or diag($err);
	($rc, $out, $err) = $node->psql($db, q{
		BEGIN;
		SET LOCAL agent_guard.idempotency_key = 'once';
		INSERT INTO items VALUES (12, 'retry');
		COMMIT;
	}, connstr => $bot);
	like($err, qr/idempotency key "once" was already applied/, "[$order] the retry is refused");
	($rc, $out, $err) = $node->psql($db, 'RESET ALL; DISCARD ALL; SET agent_guard.agent_id = \'someone-else\'',
		connstr => $bot);
	like($err, qr/cannot change the agent identity of an agent session/, "[$order] the agent cannot shed its identity");

	is($node->safe_psql($db,
			"SELECT string_agg(operation, ',' ORDER BY event_id) FROM agent_guard.events WHERE run_id = 'co-$n'"),
		join(',', ('INSERT') x 10, ('UPDATE') x 3, 'SOFT_DELETE', 'UPDATE', 'INSERT'),
		"[$order] every agent write is logged, in order");
	is($node->safe_psql($db, "SELECT count(*) FROM items WHERE ag_run_id = 'co-$n'"), '11',
		"[$order] and stamped");

	# a human: no event, NULL stamps, same results
	is($node->safe_psql($db, "UPDATE items SET v = 'human' WHERE id = 5 RETURNING ag_agent_id IS NULL"),
		't', "[$order] a human write clears the stamps");
	is($node->safe_psql($db, "SELECT count(*) FROM agent_guard.events WHERE run_id IS NULL AND operation = 'UPDATE'"),
		'0', "[$order] and is not logged");

	# the other extensions still do their job
	my $audit = slurp_file($node->logfile, $log_offset);
	like($audit, qr/AUDIT: (SESSION|OBJECT),\d+,\d+,WRITE,INSERT,TABLE,public\.items/,
		"[$order] pgaudit audits the agent's writes");
	like($audit, qr/AUDIT: SESSION,\d+,\d+,WRITE,UPDATE,,,UPDATE items SET v = ''in a DO block''|AUDIT: SESSION.*in a DO block/,
		"[$order] including dynamic SQL in a DO block");
	is($node->safe_psql($db,
			"SELECT count(*) > 0 FROM pg_stat_statements WHERE query LIKE 'UPDATE items SET v = \$1 WHERE id <= \$2'"),
		't', "[$order] pg_stat_statements counts the agent's statements");

	# rollback and the chain
	($rc, $out, $err) = $node->psql($db, "SELECT count(*) FROM agent_guard.rollback_run('co-$n', true, 'skip')");
	is($rc, 0, "[$order] the run rolls back") or diag($err);
	is($node->safe_psql($db, "SELECT string_agg(id || ':' || v, ',' ORDER BY id) FROM items"), '5:human',
		"[$order] all of it but the row a human changed since");
	$node->safe_psql($db, 'SELECT agent_guard.seal_log()');
	like($node->safe_psql($db, "SELECT ok || '|' || detail FROM agent_guard.verify_log()"),
		qr/^true\|/, "[$order] the log verifies");
}

$node->stop;
done_testing();
