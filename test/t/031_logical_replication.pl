# Logical replication and change data capture give a faithful copy of
# protected tables.  A subscriber connects as a REPLICATION role that is not
# a superuser (row security applies to it): its table sync must copy the
# rows agents soft-deleted, and later soft deletes, restores and human
# deletes must follow.  The publication is FOR ALL TABLES, so it ships the
# guard's own tables too; the subscriber has the extension and keeps its own
# guard state (no endless retry on chain_state).  protect() of a published
# table says what subscribers need first.  A test_decoding consumer rebuilds
# the table from the change stream and tells soft deletes from updates.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AgentGuardTest;

my $pub = PostgreSQL::Test::Cluster->new('publisher');
$pub->init(allows_streaming => 'logical');
$pub->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'\n");
$pub->start;
my $sub = PostgreSQL::Test::Cluster->new('subscriber');
$sub->init;
$sub->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'\n");
$sub->start;

my $schema = q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE bot LOGIN;
	CREATE SCHEMA app AUTHORIZATION bot;
	CREATE TABLE app.customers (id int PRIMARY KEY, name text, tier text);
	ALTER TABLE app.customers OWNER TO bot;
};
$pub->safe_psql('postgres', $schema . q{
	CREATE ROLE repl LOGIN REPLICATION;
	GRANT USAGE ON SCHEMA app, agent_guard TO repl;
	GRANT SELECT ON ALL TABLES IN SCHEMA app, agent_guard TO repl;
	SELECT agent_guard.protect('app.customers');
	SELECT agent_guard.register_agent('bot', 'crm-agent');
	SELECT 'slot' FROM pg_create_logical_replication_slot('cdc', 'test_decoding');
});
# the subscriber's copy: same columns (stamps included); it has its own guard
$sub->safe_psql('postgres', $schema . q{
	ALTER TABLE app.customers ADD COLUMN ag_agent_id text, ADD COLUMN ag_run_id text,
	                          ADD COLUMN ag_deleted_at timestamptz;
	CREATE ROLE sub_bot LOGIN;
	SELECT agent_guard.register_agent('sub_bot', 'subscriber-agent');
});

# the agent writes and soft-deletes before the subscription exists
ag_agent_psql($pub, 'postgres', 'bot', 'run-crm-1', q{
	INSERT INTO app.customers SELECT g, 'customer ' || g, 'basic' FROM generate_series(1, 10) g;
	DELETE FROM app.customers WHERE id IN (2, 3);
	UPDATE app.customers SET tier = 'gold' WHERE id = 4;
});
is($pub->safe_psql('postgres', 'SELECT count(*) FROM app.customers WHERE ag_deleted_at IS NOT NULL'),
	'2', 'two rows are soft-deleted on the publisher');
sub count_as
{
	my ($role) = @_;
	my ($rc, $out, $err) = $pub->psql('postgres', 'SELECT count(*) FROM app.customers',
		connstr => $pub->connstr('postgres') . " user=$role");
	return $rc == 0 ? $out : $err;
}
is(count_as('repl'), '10', 'a REPLICATION role sees the soft-deleted rows through row security');
is(count_as('bot'), '8', 'the agent (the table\'s owner) does not');
is($pub->safe_psql('postgres', q{SET ROLE repl; SELECT count(*) FROM app.customers}), '10',
	'(a superuser session sees them whatever its role)');

$pub->safe_psql('postgres', 'CREATE PUBLICATION everything FOR ALL TABLES');
my $connstr = $pub->connstr('postgres') . ' user=repl';
$connstr =~ s/'/''/g;
$sub->safe_psql('postgres', "CREATE SUBSCRIPTION copy CONNECTION '$connstr' PUBLICATION everything");
$sub->wait_for_subscription_sync($pub, 'copy');

my $rows = 'SELECT string_agg(format(\'%s|%s|%s|%s|%s|%s\', id, name, tier, ag_agent_id, ag_run_id, ag_deleted_at), E\'\n\' ORDER BY id) FROM app.customers';
is($sub->safe_psql('postgres', $rows), $pub->safe_psql('postgres', $rows),
	'the table sync copied every row, soft-deleted ones and stamps included');

# changes after the sync: a soft delete, a restore, an agent update, a human delete
ag_agent_psql($pub, 'postgres', 'bot', 'run-crm-2', q{
	DELETE FROM app.customers WHERE id = 5;
	UPDATE app.customers SET name = 'renamed' WHERE id = 6;
	INSERT INTO app.customers VALUES (11, 'new', 'basic');
});
$pub->safe_psql('postgres', q{
	SELECT agent_guard.restore('app.customers', '{"id": 2}');
	DELETE FROM app.customers WHERE id = 7;
});
$pub->wait_for_catchup('copy');
is($sub->safe_psql('postgres', $rows), $pub->safe_psql('postgres', $rows),
	'soft deletes, restores, agent and human writes replicate: the copy matches');

# the guard's own tables were shipped, and the subscriber kept its own
is($sub->safe_psql('postgres', q{
	SELECT count(*) FROM pg_subscription_rel r JOIN pg_class c ON c.oid = r.srrelid
	 WHERE c.relnamespace = 'agent_guard'::regnamespace AND r.srsubstate IN ('r', 's')}),
	$pub->safe_psql('postgres', q{SELECT count(*) FROM pg_publication_tables
	 WHERE pubname = 'everything' AND schemaname = 'agent_guard'}),
	'every guard table of the publication is in sync on the subscriber');
is($sub->safe_psql('postgres', q{
	SELECT (SELECT count(*) FROM agent_guard.events WHERE agent_id = 'crm-agent')
	    || '/' || (SELECT string_agg(agent_id, ',') FROM agent_guard.agents)
	    || '/' || (SELECT count(*) FROM agent_guard.protected)}),
	'0/subscriber-agent/0', 'the publisher\'s log, agents and protections did not land in the subscriber\'s guard');
ok(ag_wait_sealed($sub, 'postgres'), 'the subscriber\'s sealer is not stuck');
is($sub->safe_psql('postgres', 'SELECT ok FROM agent_guard.verify_log()'), 't',
	'the subscriber\'s own log verifies');
my $sublog = slurp_file($sub->logfile);
# from 18 on the subscriber logs the conflicts it resolves as 15 does
# silently (an update or delete of a guard table's row it does not keep):
# a LOG entry whose detail says it "could not find the row", not an error
$sublog =~ s/^.*DETAIL:  Could not find the row to be (?:updated|deleted)\.$//mg;
unlike($sublog, qr/duplicate key|could not|logical replication .* error/i,
	'no apply or table sync error on the subscriber');
# a guard table change on the publisher after the sync does not stop the apply
$pub->safe_psql('postgres', q{SELECT agent_guard.freeze('change window')});
ag_agent_psql($pub, 'postgres', 'bot', 'run-crm-3', 'SELECT 1');
$pub->safe_psql('postgres', q{SELECT agent_guard.unfreeze()});
$pub->safe_psql('postgres', q{UPDATE app.customers SET tier = 'silver' WHERE id = 8});
$pub->wait_for_catchup('copy');
is($sub->safe_psql('postgres', 'SELECT tier FROM app.customers WHERE id = 8'), 'silver',
	'the apply goes on after the guard\'s tables changed on the publisher');
is($sub->safe_psql('postgres', 'SELECT count(*) FROM agent_guard.freezes'), '0',
	'the publisher\'s freeze is not the subscriber\'s');

# protect() of a published table: subscribers first
$pub->safe_psql('postgres', q{
	CREATE TABLE app.orders (id int PRIMARY KEY, customer int, total numeric);
	ALTER TABLE app.orders OWNER TO bot;
	GRANT SELECT ON app.orders TO repl;
	INSERT INTO app.orders VALUES (1, 1, 10);
});
$sub->safe_psql('postgres', q{CREATE TABLE app.orders (id int PRIMARY KEY, customer int, total numeric);
	ALTER SUBSCRIPTION copy REFRESH PUBLICATION});
$sub->wait_for_subscription_sync($pub, 'copy');
my ($rc, $out, $err) = $pub->psql('postgres', q{SELECT agent_guard.protect('app.orders')});
like($err, qr/cannot protect app\.orders: it is published and its subscribers do not have the stamp columns yet/,
	'protect() of a published table refuses while the stamp columns are missing');
like($err, qr/HINT:  Run ALTER TABLE app\.orders ADD COLUMN IF NOT EXISTS ag_agent_id text, ADD COLUMN IF NOT EXISTS ag_deleted_at timestamptz, ADD COLUMN IF NOT EXISTS ag_run_id text; on every subscriber first/,
	'and says what to run on the subscribers first');
is($pub->safe_psql('postgres', q{SELECT count(*) FROM pg_attribute WHERE attrelid = 'app.orders'::regclass AND attname LIKE 'ag\_%'}),
	'0', 'nothing was added');
my ($hint) = $err =~ /HINT:  Run (ALTER TABLE .*?); on every/;
$sub->safe_psql('postgres', $hint);
$pub->safe_psql('postgres', $hint . q{; SELECT agent_guard.protect('app.orders')});
ag_agent_psql($pub, 'postgres', 'bot', 'run-crm-4', q{
	INSERT INTO app.orders VALUES (2, 2, 20);
	DELETE FROM app.orders WHERE id = 1;
});
$pub->wait_for_catchup('copy');
my $orders = q{SELECT string_agg(format('%s|%s|%s|%s', id, total, ag_agent_id, ag_deleted_at IS NOT NULL), ',' ORDER BY id) FROM app.orders};
is($sub->safe_psql('postgres', $orders), $pub->safe_psql('postgres', $orders),
	'after the subscribers got the columns, the protected table replicates');

# a decoding consumer (test_decoding) rebuilds the table from the stream
my %copy;
my ($soft, $updates) = (0, 0);
my $changes = $pub->safe_psql('postgres',
	q{SELECT data FROM pg_logical_slot_get_changes('cdc', NULL, NULL, 'include-xids', '0')});
for my $line (split /\n/, $changes)
{
	next unless $line =~ /^table app\.customers: (INSERT|UPDATE|DELETE): (.*)$/;
	my ($op, $rest) = ($1, $2);
	my %f;
	while ($rest =~ /(\w+)\[[^\]]+\]:('(?:[^']|'')*'|\S+)/g)
	{
		my ($k, $v) = ($1, $2);
		$v = $v eq 'null' ? '' : $v;
		$v =~ s/^'(.*)'$/$1/s;
		$v =~ s/''/'/g;
		$f{$k} = $v;
	}
	if ($op eq 'DELETE') { delete $copy{ $f{id} }; next; }
	if ($op eq 'UPDATE')
	{
		# a soft delete is an UPDATE whose new row has ag_deleted_at set
		# where the copy had none
		if ($f{ag_deleted_at} ne '' && exists $copy{ $f{id} } && $copy{ $f{id} }{ag_deleted_at} eq '') { $soft++; }
		else { $updates++; }
	}
	$copy{ $f{id} } = \%f;
}
my $decoded = join("\n", map { my $r = $copy{$_}; join('|', @$r{qw(id name tier ag_agent_id ag_run_id)}, $r->{ag_deleted_at} ne '' ? 'deleted' : 'live') }
	  sort { $a <=> $b } keys %copy);
is($decoded, $pub->safe_psql('postgres', q{SELECT string_agg(format('%s|%s|%s|%s|%s|%s', id, name, tier,
	coalesce(ag_agent_id, ''), coalesce(ag_run_id, ''), CASE WHEN ag_deleted_at IS NULL THEN 'live' ELSE 'deleted' END), E'\n' ORDER BY id)
	FROM app.customers}), 'the decoded stream rebuilds the table, soft-deleted rows included');
is($soft, 3, 'the consumer saw the three soft deletes as such');
ok($updates >= 3, "and told them from the $updates other updates (restore included)");

$sub->stop;
$pub->stop;
done_testing();
