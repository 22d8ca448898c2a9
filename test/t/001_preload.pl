# CREATE EXTENSION without shared_preload_libraries must fail with a hint
# that says how to fix the configuration, and LOAD must not sneak the
# guard in half-way; with the preload the extension installs.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('nopreload');
$node->init;
$node->start;

my ($rc, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION agent_guard;');
isnt($rc, 0, 'CREATE EXTENSION fails without the preload');
like($err, qr/agent_guard must be loaded via "shared_preload_libraries"/, 'error names the setting');
like($err, qr/HINT:.*Add agent_guard to "shared_preload_libraries".*restart the server/,
	'hint says how to fix it');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_extension WHERE extname = 'agent_guard'"),
	'0', 'nothing was installed');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_namespace WHERE nspname = 'agent_guard'"),
	'0', 'no schema left behind');

# LOAD loads the library without the guard: no hook, no gate setting
# (test/t/026_preload_lost.pl: what then refuses agents)
($rc, $out, $err) = $node->psql('postgres', "LOAD 'agent_guard'; SHOW agent_guard.max_rows_per_statement;");
isnt($rc, 0, 'LOAD installs no gate');
like($err, qr/unrecognized configuration parameter "agent_guard.max_rows_per_statement"/,
	'the gate settings stay unknown');

$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'");
$node->restart;
($rc, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION agent_guard;');
is($rc, 0, 'CREATE EXTENSION works with the preload') or diag($err);

# with pg_stat_statements preloaded before and after us, the guard still works
for my $order ("'pg_stat_statements, agent_guard'", "'agent_guard, pg_stat_statements'")
{
	$node->append_conf('postgresql.conf', "shared_preload_libraries = $order");
	$node->restart;
	$node->safe_psql('postgres', q{
		CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
		DO $$ BEGIN
			IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pss_bot') THEN
				CREATE ROLE pss_bot LOGIN;
				CREATE TABLE pss_t (id int PRIMARY KEY, v int);
				GRANT ALL ON pss_t TO pss_bot;
				PERFORM agent_guard.protect('pss_t', false);
				PERFORM agent_guard.register_agent('pss_bot');
			END IF;
		END $$;
	});
	$node->safe_psql('postgres', 'INSERT INTO pss_t VALUES ((SELECT count(*) + 1 FROM pss_t), 1)',
		extra_params => [ '-U', 'pss_bot' ]);
	is($node->safe_psql('postgres',
			"SELECT count(*) > 0 FROM pg_stat_statements WHERE query LIKE 'INSERT INTO pss_t%'"),
		't', "pg_stat_statements still sees statements ($order)");
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM agent_guard.events WHERE agent_id = 'pss_bot' AND operation = 'INSERT'"),
		$order =~ /^'pg/ ? '1' : '2', "agent writes are logged ($order)");
}

$node->stop;
done_testing();
