# A run written at 1.1 under other output settings rolls back after the
# update to 1.2.
#
# 1.1 printed the row images under the writing session's settings, 1.2
# under pinned ones (outputpin.c): after the update the rollback compared
# the current row, printed as 1.2 prints it, with the 1.1 text, and every
# row whose timestamptz, bytea or interval printed otherwise was a
# conflict.  The update reprints, beside the sealed images, the forms that
# read back exactly (agent_guard.canonical_images); the rollback compares
# those.
#
# The library installed is 1.2's, which prints images pinned also in a
# database at 1.1.  So the images 1.1 wrote are made here as 1.1 made
# them, to_jsonb() of the row under the agent's settings (TimeZone
# Europe/Berlin, bytea_output escape, IntervalStyle postgres_verbose; a
# second run with IntervalStyle sql_standard), and put into the run's
# events while the chain's head is held, before they are sealed.
#   - the update leaves the sealed images as they are, and the log
#     verifies against the head of before;
#   - rollback_run() undoes the run's rows (inserts, updates, a soft
#     delete) with no conflict, back to the rows of before the run;
#   - a row a human changed since still conflicts;
#   - the run whose intervals were written in sql_standard style (not
#     reprinted) still conflicts;
#   - a reprint edited after the update (it is outside the chain) is not
#     used: the row conflicts again;
#   - the log verifies after the compensations.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AgentGuardTest;

my $node = PostgreSQL::Test::Cluster->new('upgrade_images');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'\n");
$node->start;

my $previous = $node->safe_psql('postgres', q{
	SELECT version FROM pg_available_extension_versions
	 WHERE name = 'agent_guard' AND version <> (SELECT default_version FROM pg_available_extensions
	                                             WHERE name = 'agent_guard')
	 ORDER BY string_to_array(version, '.')::int[] DESC LIMIT 1});
is($previous, '1.1', 'the release before is 1.1');

$node->safe_psql('postgres', 'CREATE DATABASE old');
$node->safe_psql('old', qq{
	CREATE EXTENSION agent_guard VERSION '$previous';
	CREATE ROLE img_bot LOGIN;
	CREATE SCHEMA app AUTHORIZATION img_bot;
	CREATE TABLE app.vals (id int PRIMARY KEY, ts timestamptz, b bytea, iv interval, note text);
	ALTER TABLE app.vals OWNER TO img_bot;
	SELECT agent_guard.protect('app.vals');
	SELECT agent_guard.register_agent('img_bot', 'img-agent');
	INSERT INTO app.vals VALUES
	  (1, '2024-01-15 08:00:00+00', '\\x00ff5c41', '1 day 02:00:00', 'one'),
	  (2, '2024-07-01 12:30:00.25+00', 'plain', '3 mons', 'two'),
	  (3, '2023-12-31 23:59:59+00', '\\x', '-1 year', 'three'),
	  (4, '2024-02-29 00:00:00+00', 'four', '2 hours', 'four');
});

# the rows as they are, printed alike whatever the session
my $rows_sql = q{
	SET TimeZone = 'UTC'; SET bytea_output = 'hex'; SET IntervalStyle = 'postgres';
	SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s', id, ts, b, iv, note, ag_deleted_at IS NULL, ag_run_id), ','
	                  ORDER BY id) FROM app.vals WHERE id NOT IN (3, 4)};
my $rows_before = $node->safe_psql('old', $rows_sql);

# the agent's sessions; the head of the chain is held meanwhile, so that
# nothing is sealed before the images are as 1.1 wrote them
my $holder = $node->background_psql('old');
$holder->query_safe('BEGIN; SELECT 1 FROM agent_guard.chain_state FOR UPDATE');

sub agent
{
	my ($run, $settings, $sql) = @_;
	return $node->psql('old', $sql,
		extra_params => [ '-v', 'ON_ERROR_STOP=1' ],
		connstr => $node->connstr('old') . " user=img_bot options='-c agent_guard.run_id=$run $settings'");
}
my $berlin = '-c TimeZone=Europe/Berlin -c bytea_output=escape -c IntervalStyle=postgres_verbose';
my ($rc, $out, $err) = agent('r-berlin', $berlin, q{
	INSERT INTO app.vals VALUES (10, '2024-03-31 01:30:00+00', '\\x0a0b5c', '1 year 2 mons 3 days 04:05:06.5', 'new'),
	                            (11, '1850-01-01 00:00:00+00', 'esc\\\\aped', '-2 days', 'old zone');
	UPDATE app.vals SET ts = ts + interval '1 hour', b = '\\x01', iv = iv * 2, note = 'changed' WHERE id IN (1, 3);
	DELETE FROM app.vals WHERE id = 2;
});
is($rc, 0, 'the agent writes under Europe/Berlin, bytea escape, IntervalStyle postgres_verbose') or diag($err);
($rc, $out, $err) = agent('r-std', '-c IntervalStyle=sql_standard', q{
	UPDATE app.vals SET iv = '-1 year -2 mons 3 days', note = 'std' WHERE id = 4;
});
is($rc, 0, 'and in another run under IntervalStyle sql_standard') or diag($err);

# what 1.1 logged: to_jsonb() of the rows under the writing session's
# settings (the 1.2 images read back exactly; only row 10..11 and 1..3
# hold values whose printed form depends on those settings)
for my $r ([ 'r-berlin', q{SET LOCAL TimeZone = 'Europe/Berlin'; SET LOCAL bytea_output = 'escape'; SET LOCAL IntervalStyle = 'postgres_verbose'} ],
		   [ 'r-std', q{SET LOCAL TimeZone = 'UTC'; SET LOCAL IntervalStyle = 'sql_standard'} ])
{
	my ($run, $set) = @$r;
	$holder->query_safe(qq{
		$set;
		UPDATE agent_guard.events
		   SET old_row = to_jsonb(jsonb_populate_record(NULL::app.vals, old_row)),
		       new_row = to_jsonb(jsonb_populate_record(NULL::app.vals, new_row))
		 WHERE run_id = '$run' AND operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE');
		RESET TimeZone; RESET bytea_output; RESET IntervalStyle;
	});
}
is($holder->query_safe(q{
	SELECT concat_ws('|', new_row->>'ts', new_row->>'b', new_row->>'iv')
	  FROM agent_guard.events WHERE run_id = 'r-berlin' AND operation = 'INSERT' AND row_key->>'id' = '10'}),
	'2024-03-31T03:30:00+02:00|\\012\\013\\\\|@ 1 year 2 mons 3 days 4 hours 5 mins 6.5 secs',
	'the images are as 1.1 wrote them: offset +02:00, bytea escaped, interval verbose');
$holder->query_safe('COMMIT');
$holder->quit;
ok(ag_wait_sealed($node, 'old'), 'sealed');
is($node->safe_psql('old', q{
	SELECT string_agg(operation, ',' ORDER BY event_id) FROM agent_guard.events WHERE run_id = 'r-berlin'}),
	'INSERT,INSERT,UPDATE,UPDATE,SOFT_DELETE', 'the run inserted, updated and soft-deleted');

# a human changes one of the run's rows after it
$node->safe_psql('old', "UPDATE app.vals SET note = 'by a human' WHERE id = 3");

my $head = $node->safe_psql('old', 'SELECT agent_guard.log_head()');
my $images_sql = q{SELECT md5(string_agg(concat_ws('|', event_id, row_key, old_row, new_row), ',' ORDER BY event_id))
                     FROM agent_guard.events};
my $images_before = $node->safe_psql('old', $images_sql);

# --- the update ---------------------------------------------------------
($rc, $out, $err) = $node->psql('old', 'ALTER EXTENSION agent_guard UPDATE');
is($rc, 0, 'ALTER EXTENSION agent_guard UPDATE') or diag($err);
is($node->safe_psql('old', $images_sql), $images_before, 'the sealed images are as they were');
like($node->safe_psql('old', "SELECT ok || '|' || detail FROM agent_guard.verify_log('$head')"),
	qr/^true\|/, 'the log verifies against the head taken before the update');
is($node->safe_psql('old', q{
	SELECT string_agg(e.operation || ':' || (c.event_id IS NOT NULL), ',' ORDER BY e.event_id)
	  FROM agent_guard.events e LEFT JOIN agent_guard.canonical_images c USING (event_id)
	 WHERE e.run_id IN ('r-berlin', 'r-std')}),
	'INSERT:true,INSERT:true,UPDATE:true,UPDATE:true,SOFT_DELETE:true,UPDATE:false',
	'every image of the Berlin run is reprinted, none of the sql_standard run');
is($node->safe_psql('old', q{
	SET TimeZone = 'UTC'; SET bytea_output = 'hex'; SET IntervalStyle = 'postgres';
	SELECT concat_ws('|', c.new_row->>'ts', c.new_row->>'b', c.new_row->>'iv')
	  FROM agent_guard.canonical_images c JOIN agent_guard.events e USING (event_id)
	 WHERE e.run_id = 'r-berlin' AND e.operation = 'INSERT' AND e.row_key->>'id' = '10'}),
	'2024-03-31T01:30:00+00:00|\x0a0b5c|1 year 2 mons 3 days 04:05:06.5',
	'a reprint: the instant at +00:00, hex, the postgres interval style');

# --- the rollback -------------------------------------------------------
my $plan_sql = q{
	SELECT string_agg(operation || ':' || (row_key->>'id') || ':' || status, ',' ORDER BY event_id)
	  FROM agent_guard.rollback_run('%s')};
is($node->safe_psql('old', sprintf($plan_sql, 'r-berlin')),
	'INSERT:10:planned,INSERT:11:planned,UPDATE:1:planned,UPDATE:3:conflict,SOFT_DELETE:2:planned',
	'the plan: every row of the run undone but the one a human changed since');
like($node->safe_psql('old', q{
	SELECT detail FROM agent_guard.rollback_run('r-berlin') WHERE status = 'conflict'}),
	qr/Row \{"id": 3\} was changed after the run/, 'which conflicts as changed after the run');
is($node->safe_psql('old', sprintf($plan_sql, 'r-std')), 'UPDATE:4:conflict',
	'an interval written in sql_standard style is not reprinted, and conflicts');

# a reprint edited since the update is not used
$node->safe_psql('old', q{
	UPDATE agent_guard.canonical_images c SET new_row = jsonb_set(c.new_row, '{note}', '"forged"')
	  FROM agent_guard.events e
	 WHERE e.event_id = c.event_id AND e.run_id = 'r-berlin' AND e.operation = 'INSERT' AND e.row_key->>'id' = '11'});
is($node->safe_psql('old', sprintf($plan_sql, 'r-berlin')),
	'INSERT:10:planned,INSERT:11:conflict,UPDATE:1:planned,UPDATE:3:conflict,SOFT_DELETE:2:planned',
	'a reprint that is not what the sealed image reprints to is not used: that row conflicts');
$node->safe_psql('old', q{
	UPDATE agent_guard.canonical_images c SET new_row = jsonb_set(c.new_row, '{note}', '"old zone"')
	  FROM agent_guard.events e
	 WHERE e.event_id = c.event_id AND e.run_id = 'r-berlin' AND e.operation = 'INSERT' AND e.row_key->>'id' = '11'});

# the human's session has other settings again
($rc, $out, $err) = $node->psql('old', q{
	SET TimeZone = 'America/New_York'; SET bytea_output = 'escape'; SET IntervalStyle = 'iso_8601';
	SELECT count(*) FROM agent_guard.rollback_run('r-berlin', apply => true, on_conflict => 'skip')
	 WHERE status = 'applied'},
	extra_params => [ '-v', 'ON_ERROR_STOP=1' ]);
is($rc, 0, 'rollback_run() of the run written before the update') or diag($err);
is($out, '4', 'applies the four rows that did not conflict');
is($node->safe_psql('old', $rows_sql), $rows_before,
	'those rows are as before the run: inserted rows gone, updated ones back, the soft-deleted one undeleted');
is($node->safe_psql('old', 'SELECT note FROM app.vals WHERE id = 3'), 'by a human',
	'the row the human changed is left as it is');
ok(ag_wait_sealed($node, 'old'), 'the compensations are sealed');
like($node->safe_psql('old', "SELECT ok || '|' || detail FROM agent_guard.verify_log('$head')"),
	qr/^true\|/, 'and the log verifies');

$node->stop;
done_testing();
