# ALTER EXTENSION agent_guard UPDATE from the previous release keeps all
# state, and leaves the same extension as a fresh install.
#
# A database is created at 1.0 (releases/agent_guard--1.0.sql, the script
# as it was released) and used: agents, soft- and hard-delete tables, runs
# with soft-deleted rows, an idempotency key, a pending approval, a freeze,
# a policy, an archived part of the log.  Then it is updated with the
# upgrade scripts, and:
#   - every row of the guard's tables is as it was, and the log verifies
#     against the head taken before the update;
#   - the guard goes on: the freeze and the policy still hold, the key
#     still refuses the retry, a request made before the update admits no
#     retry once approved (it has no digest) but the retry's can be, new
#     events continue the chain, a run written before the update rolls back;
#   - the catalog of the updated extension (every member object, its
#     definition, privileges and comment, the dumped configuration tables)
#     is the catalog of a fresh install of the current version: an object
#     the upgrade script forgets, or gets wrong, fails here.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AgentGuardTest;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'\n");
$node->start;

my $current = $node->safe_psql('postgres',
	"SELECT default_version FROM pg_available_extensions WHERE name = 'agent_guard'");
my @old = split /\n/, $node->safe_psql('postgres', q{
	SELECT version FROM pg_available_extension_versions
	 WHERE name = 'agent_guard' AND version <> (SELECT default_version FROM pg_available_extensions
	                                             WHERE name = 'agent_guard')
	 ORDER BY string_to_array(version, '.')::int[]});
ok(scalar(@old) >= 1, "an earlier release is installed next to $current")
  or BAIL_OUT('no earlier release script');
my $previous = $old[-1];
note("updating $previous -> $current");

$node->safe_psql('postgres', 'CREATE DATABASE old');
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION agent_guard');
$node->safe_psql('old', qq{
	CREATE EXTENSION agent_guard VERSION '$previous';
	CREATE ROLE up_bot LOGIN;
	CREATE ROLE up_frozen LOGIN;
	CREATE ROLE up_reader LOGIN;
	CREATE SCHEMA app AUTHORIZATION up_bot;
	GRANT USAGE ON SCHEMA app TO up_frozen, up_reader;
	CREATE TABLE app.items (id int PRIMARY KEY, v text);
	CREATE TABLE app.orders (id int PRIMARY KEY, item int REFERENCES app.items, qty int);
	ALTER TABLE app.items OWNER TO up_bot;
	ALTER TABLE app.orders OWNER TO up_bot;
	GRANT SELECT, INSERT, UPDATE, DELETE ON app.items TO up_frozen, up_reader;
	SELECT agent_guard.protect('app.items');
	SELECT agent_guard.protect('app.orders', false);
	SELECT agent_guard.register_agent('up_bot', 'up-agent');
	SELECT agent_guard.register_agent('up_frozen', 'up-frozen');
	SELECT agent_guard.register_agent('up_reader', 'up-reader');
});
is($node->safe_psql('old', "SELECT extversion FROM pg_extension WHERE extname = 'agent_guard'"),
	$previous, "installed at $previous");



# --- life at the previous release -------------------------------------
my ($rc, $out, $err) = ag_agent_psql($node, 'old', 'up_bot', 'r-archived',
	"INSERT INTO app.items SELECT g, 'old' FROM generate_series(1, 10) g");
is($rc, 0, 'a first run') or diag($err);
ok(ag_wait_sealed($node, 'old'), 'sealed');
$node->safe_psql('old', "SELECT agent_guard.archive_log(now() + interval '1 minute')");

my $items_before_run = $node->safe_psql('old', 'SELECT md5(string_agg(i::text, \',\' ORDER BY id)) FROM app.items i');
($rc, $out, $err) = ag_agent_psql($node, 'old', 'up_bot', 'r-main', q{
	BEGIN;
	SET LOCAL agent_guard.idempotency_key = 'refund-7';
	INSERT INTO app.items SELECT g, 'v' || g FROM generate_series(11, 30) g;
	INSERT INTO app.orders VALUES (1, 11, 5), (2, 12, 7);
	COMMIT;
	UPDATE app.items SET v = 'changed' WHERE id BETWEEN 1 AND 5;
	DELETE FROM app.items WHERE id BETWEEN 26 AND 30;
	DELETE FROM app.orders WHERE id = 2;
});
is($rc, 0, 'the run to undo later, with soft and hard deletes') or diag($err);

($rc, $out, $err) = ag_agent_psql($node, 'old', 'up_bot', 'r-del', 'DELETE FROM app.orders');
like($err, qr/needs a human's approval: request \d+/, 'a DELETE without WHERE waits for approval');
my ($request) = $err =~ /request (\d+)/;
ok(defined $request, "request id $request") or diag($err);

$node->safe_psql('old', q{
	SELECT agent_guard.freeze('incident', 'up-frozen');
	SELECT agent_guard.set_policy('up-reader', 'read_only');
	SELECT agent_guard._flush_requests();
});
($rc, $out, $err) = ag_agent_psql($node, 'old', 'up_frozen', 'r-f', "UPDATE app.items SET v = 'no' WHERE id = 1");
like($err, qr/frozen/, 'the frozen agent is refused before the update');
ok(ag_wait_sealed($node, 'old'), 'everything sealed before the update');
my $head = $node->safe_psql('old', 'SELECT agent_guard.log_head()');

# every row the guard keeps, and the agents' data
my $state_sql = q{
	SELECT concat_ws(E'\n',
	  (SELECT string_agg(format('%s|%s', role, agent_id), ',' ORDER BY agent_id) FROM agent_guard.registered_agents),
	  (SELECT string_agg(format('%s|%s|%s', relation, soft_delete, key_columns), ',' ORDER BY relation::text) FROM agent_guard.protected_tables),
	  -- events got columns in 1.2 (a statement kept in its first event,
	  -- NULL in the events before), the archive with them
	  (SELECT count(*) || '|' || md5(string_agg((to_jsonb(e) - ARRAY['query', 'client_addr', 'application_name', 'parameters'])::text,
	                                            ',' ORDER BY event_id)) FROM agent_guard.events e),
	  -- statements got a column in 1.1 (parameters, NULL for the rows before)
	  (SELECT count(*) || '|' || md5(string_agg((to_jsonb(s) - 'parameters')::text, ',' ORDER BY statement_id)) FROM agent_guard.statements s),
	  (SELECT count(*) || '|' || md5(string_agg((to_jsonb(a) - ARRAY['query', 'client_addr', 'application_name', 'parameters'])::text,
	                                            ',' ORDER BY event_id)) FROM agent_guard.events_archive a),
	  (SELECT count(*) || '|' || md5(string_agg(c::text, ',' ORDER BY checkpoint_id)) FROM agent_guard.log_checkpoints c),
	  (SELECT string_agg(format('%s|%s|%s', agent_id, key, run_id), ',') FROM agent_guard.applied_keys),
	  (SELECT string_agg(format('%s|%s|%s', request_id, kind, status), ',' ORDER BY request_id) FROM agent_guard.requests),
	  (SELECT string_agg(f::text, ',') FROM agent_guard.freezes f),
	  (SELECT string_agg(format('%s|%s', agent_id, mode), ',') FROM agent_guard.policies),
	  (SELECT format('%s|%s|%s|%s', last_seq, encode(last_seal, 'hex'), checkpoint_seq, encode(checkpoint_seal, 'hex')) FROM agent_guard.chain_state),
	  -- 1.1 called the run of a frozen agent (or with a denied request) active
	  (SELECT string_agg(format('%s|%s|%s|%s', run_id, CASE WHEN status IN ('frozen', 'denied') THEN 'active' ELSE status END,
	                            guard_events, unsealed), ',' ORDER BY run_id) FROM agent_guard.runs),
	  (SELECT md5(string_agg(i::text, ',' ORDER BY id)) FROM app.items i),
	  (SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM app.orders o),
	  (SELECT string_agg(row_key::text, ',' ORDER BY row_key::text) FROM agent_guard.soft_deleted('app.items')))
};
my $before = $node->safe_psql('old', $state_sql);
# a human on call who may see the sealers (sealer_status() is made anew by
# the update, which gains columns)
# (and who reads the requests, with the grants 1.1 asked for)
$node->safe_psql('old', q{
	CREATE ROLE up_oncall LOGIN;
	GRANT EXECUTE ON FUNCTION agent_guard.sealer_status() TO up_oncall;
	GRANT SELECT ON agent_guard.requests TO up_oncall;
	GRANT EXECUTE ON FUNCTION agent_guard._pending_requests() TO up_oncall;
	GRANT EXECUTE ON FUNCTION agent_guard.approve(bigint, text) TO up_oncall;
});
my $requests_seen = $node->safe_psql('old', 'SELECT count(*) FROM agent_guard.requests',
	extra_params => [ '-U', 'up_oncall' ]);

# --- the update ---------------------------------------------------------
($rc, $out, $err) = $node->psql('old', 'ALTER EXTENSION agent_guard UPDATE');
is($rc, 0, "ALTER EXTENSION agent_guard UPDATE from $previous") or diag($err);
is($node->safe_psql('old', "SELECT extversion FROM pg_extension WHERE extname = 'agent_guard'"),
	$current, "now at $current");
is($node->safe_psql('old', q{
	SELECT has_function_privilege('up_oncall', 'agent_guard.sealer_status()', 'EXECUTE'),
	       has_function_privilege('public', 'agent_guard.sealer_status()', 'EXECUTE'),
	       (SELECT count(*) FROM agent_guard.sealer_status() WHERE state IS NOT NULL) > 0}),
	"t|f|t", 'sealer_status() keeps its grant to the human on call, not to PUBLIC, and says each state');
is($node->safe_psql('old', 'SELECT count(*) FROM agent_guard.requests', extra_params => [ '-U', 'up_oncall' ]),
	$requests_seen, 'who read the requests at the previous release still reads them (the view calls a new function)');
is($node->safe_psql('old', q{SELECT has_function_privilege('up_oncall', 'agent_guard.approve(bigint, text, text)', 'EXECUTE')}),
	't', 'who could approve may approve with the whole statement');
# (the catalog below is compared with a fresh install, which has no such grant)
$node->safe_psql('old', q{
	REVOKE EXECUTE ON FUNCTION agent_guard.sealer_status() FROM up_oncall;
	REVOKE SELECT ON agent_guard.requests FROM up_oncall;
	REVOKE EXECUTE ON FUNCTION agent_guard._pending_requests() FROM up_oncall;
	REVOKE EXECUTE ON FUNCTION agent_guard._pending_request_parameters() FROM up_oncall;
	REVOKE EXECUTE ON FUNCTION agent_guard.approve(bigint, text) FROM up_oncall;
	REVOKE EXECUTE ON FUNCTION agent_guard.approve(bigint, text, text) FROM up_oncall;
	-- from 16 on, a grant the update script re-made is an initial privilege
	-- of the extension too: DROP OWNED removes that record
	DROP OWNED BY up_oncall;
	DROP ROLE up_oncall;
});

is($node->safe_psql('old', $state_sql), $before,
	'agents, protected tables, events, statements, archive, checkpoints, keys, requests, freezes, '
	  . 'policies, chain head, runs and data are all as they were');
like($node->safe_psql('old', "SELECT ok || '|' || detail FROM agent_guard.verify_log('$head')"),
	qr/^true\|/, 'the log verifies against the head taken before the update');
# the row security protect() found, kept by name before 1.2, is kept by
# the relation now (red team 25, F1): app.items had none
is($node->safe_psql('old', q{
	SELECT string_agg(format('%s|%s|%s', relation, row_security, force_row_security), ',' ORDER BY relation::text)
	  FROM agent_guard.rls_before}),
	'app.items|f|f', 'the row security kept before protect() moved to agent_guard.rls_before');

# --- the same extension as a fresh install ------------------------------
# one line per member object: what it is, its definition, owner-independent
# privileges and comment; plus the configuration tables pg_dump keeps
my $catalog_sql = q{
	WITH ext AS (SELECT oid, extconfig, extcondition FROM pg_extension WHERE extname = 'agent_guard'),
	members AS (
	  SELECT d.classid, d.objid, d.objsubid FROM pg_depend d, ext
	   WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e')
	SELECT string_agg(line, E'\n' ORDER BY line) FROM (
	  SELECT 'member ' || pg_describe_object(classid, objid, objsubid)
	         || coalesce(' -- ' || obj_description(objid, (SELECT relname FROM pg_class WHERE oid = classid)), '') AS line
	    FROM members
	  UNION ALL
	  SELECT 'function ' || p.oid::regprocedure || ' ' || pg_get_functiondef(p.oid)
	         || ' acl ' || coalesce(p.proacl::text, '-')
	    FROM pg_proc p, members m WHERE m.classid = 'pg_proc'::regclass AND m.objid = p.oid AND p.prokind <> 'a'
	  UNION ALL
	  SELECT format('relation %s kind %s rls %s/%s options %s acl %s', c.oid::regclass, c.relkind,
	                c.relrowsecurity, c.relforcerowsecurity, c.reloptions, coalesce(c.relacl::text, '-'))
	    FROM pg_class c, members m WHERE m.classid = 'pg_class'::regclass AND m.objid = c.oid
	  UNION ALL
	  SELECT format('column %s.%s #%s %s notnull %s default %s identity %s generated %s', c.oid::regclass,
	                a.attname, row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum),
	                format_type(a.atttypid, a.atttypmod), a.attnotnull,
	                pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated)
	    FROM pg_class c JOIN members m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
	    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	    LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
	  UNION ALL
	  SELECT 'view ' || c.oid::regclass || ' ' || pg_get_viewdef(c.oid)
	    FROM pg_class c, members m WHERE m.classid = 'pg_class'::regclass AND m.objid = c.oid AND c.relkind = 'v'
	  UNION ALL
	  SELECT 'index ' || pg_get_indexdef(i.indexrelid)
	    FROM pg_index i, members m WHERE m.classid = 'pg_class'::regclass AND m.objid = i.indrelid
	  UNION ALL
	  SELECT 'constraint ' || co.conrelid::regclass || ' ' || co.conname || ' ' || pg_get_constraintdef(co.oid)
	    FROM pg_constraint co, members m WHERE m.classid = 'pg_class'::regclass AND m.objid = co.conrelid
	  UNION ALL
	  SELECT 'trigger ' || pg_get_triggerdef(t.oid)
	    FROM pg_trigger t, members m WHERE m.classid = 'pg_class'::regclass AND m.objid = t.tgrelid AND NOT t.tgisinternal
	  UNION ALL
	  SELECT format('policy %s on %s %s %s using %s check %s', po.polname, po.polrelid::regclass, po.polcmd,
	                po.polpermissive, pg_get_expr(po.polqual, po.polrelid), pg_get_expr(po.polwithcheck, po.polrelid))
	    FROM pg_policy po, members m WHERE m.classid = 'pg_class'::regclass AND m.objid = po.polrelid
	  UNION ALL
	  SELECT format('sequence %s %s %s %s %s %s', s.seqrelid::regclass, s.seqtypid::regtype, s.seqincrement,
	                s.seqmin, s.seqmax, s.seqcache)
	    FROM pg_sequence s, members m WHERE m.classid = 'pg_class'::regclass AND m.objid = s.seqrelid
	  UNION ALL
	  SELECT 'config ' || cfg::regclass || ' where ' || coalesce(cond, '')
	    FROM ext, unnest(ext.extconfig, ext.extcondition) AS u(cfg, cond)
	  UNION ALL
	  SELECT 'schema ' || n.nspname || ' acl ' || coalesce(n.nspacl::text, '-')
	    FROM pg_namespace n WHERE n.nspname = 'agent_guard'
	) x
};
my @fresh = split /\n/, $node->safe_psql('fresh', $catalog_sql);
my @updated = split /\n/, $node->safe_psql('old', $catalog_sql);
ok(scalar(@fresh) > 200, scalar(@fresh) . ' catalog lines describe a fresh install');
my %in_fresh = map { $_ => 1 } @fresh;
my %in_updated = map { $_ => 1 } @updated;
my @missing = grep { !$in_updated{$_} } @fresh;
my @extra = grep { !$in_fresh{$_} } @updated;
is(scalar(@missing) + scalar(@extra), 0, 'the updated extension is the fresh install, object for object')
  or diag(join("\n", (map { "only in a fresh install: $_" } @missing),
		(map { "only after the update:    $_" } @extra)));

# --- and it keeps working -----------------------------------------------
($rc, $out, $err) = ag_agent_psql($node, 'old', 'up_frozen', 'r-f', "UPDATE app.items SET v = 'no' WHERE id = 1");
like($err, qr/frozen/, 'the freeze still holds');
($rc, $out, $err) = ag_agent_psql($node, 'old', 'up_reader', 'r-ro', "UPDATE app.items SET v = 'no' WHERE id = 1");
like($err, qr/UPDATE refused by the policy of agent "up-reader"/, 'the read_only policy still holds');
($rc, $out, $err) = ag_agent_psql($node, 'old', 'up_bot', 'r-retry', q{
	BEGIN;
	SET LOCAL agent_guard.idempotency_key = 'refund-7';
	INSERT INTO app.items VALUES (100, 'retry');
	COMMIT;
});
like($err, qr/idempotency key "refund-7" was already applied/, 'the applied key still refuses the retry');
is($node->safe_psql('old', 'SELECT count(*) FROM app.items', extra_params => [ '-U', 'up_bot' ]),
	'25', 'soft-deleted rows stay hidden from the agent');

# a request made before the update has no digest (request_log.statement_digest,
# 1.2): approving it admits no retry, which asks anew; that request works
$node->safe_psql('old', "SELECT agent_guard.approve($request, 'after the update')");
($rc, $out, $err) = ag_agent_psql($node, 'old', 'up_bot', 'r-del', 'DELETE FROM app.orders');
like($err, qr/needs a human's approval: request \d+/,
	'an approval of a request made before the update admits no retry');
my ($request2) = $err =~ /request (\d+)/;
isnt($request2 // $request, $request, 'the retry is a new request') or diag($err);
$node->safe_psql('old', 'SELECT agent_guard._flush_requests()');
is($node->safe_psql('old', "SELECT status FROM agent_guard.requests WHERE request_id = $request"),
	'approved', 'the old approval is left unused');
$node->safe_psql('old', "SELECT agent_guard.approve($request2, 'after the update')");
($rc, $out, $err) = ag_agent_psql($node, 'old', 'up_bot', 'r-del', 'DELETE FROM app.orders');
is($rc, 0, 'the request made after the update is approved and used') or diag($err);
is($node->safe_psql('old', 'SELECT count(*) FROM app.orders'), '0', 'the approved DELETE ran');

($rc, $out, $err) = ag_agent_psql($node, 'old', 'up_bot', 'r-new', "INSERT INTO app.items VALUES (200, 'new'); UPDATE app.items SET v = 'x' WHERE id = 6");
is($rc, 0, 'the agent writes after the update') or diag($err);
is($node->safe_psql('old', "SELECT ag_agent_id || '|' || ag_run_id FROM app.items WHERE id = 200"),
	'up-agent|r-new', 'stamped');
ok(ag_wait_sealed($node, 'old'), 'the new events are sealed');
like($node->safe_psql('old', "SELECT ok || '|' || detail FROM agent_guard.verify_log('$head')"),
	qr/^true\|/, 'the chain continues from the old head and verifies');
# the statements written after the update are kept in their first event,
# and show in agent_guard.statements and the runs with those of before
is($node->safe_psql('old', q{
	SELECT concat_ws('|',
	  (SELECT count(*) FROM agent_guard.statements WHERE run_id = 'r-new'),
	  (SELECT count(*) FROM agent_guard.statements WHERE run_id = 'r-new' AND query LIKE 'INSERT INTO app.items VALUES (200%'),
	  (SELECT count(*) FROM agent_guard.statement_rows WHERE run_id = 'r-new'),
	  (SELECT count(*) FROM agent_guard.events WHERE run_id = 'r-new' AND query IS NOT NULL),
	  (SELECT statements FROM agent_guard.runs WHERE run_id = 'r-new'),
	  (SELECT count(*) > 0 FROM agent_guard.statement_rows WHERE run_id = 'r-main'),
	  -- numbered on from the rows of before: no number twice
	  (SELECT count(*) = count(DISTINCT statement_id) FROM agent_guard.statements))}),
	'2|1|0|2|2|t|t', 'a statement of after the update is kept in its first event, numbered on from the rows of before');

# runs roll back newest first; the last was written at the previous release
($rc, $out, $err) = $node->psql('old', q{
	SELECT count(*) FROM agent_guard.rollback_run('r-new', apply => true);
	SELECT count(*) FROM agent_guard.rollback_run('r-del', apply => true);
	SELECT count(*) FROM agent_guard.rollback_run('r-main', apply => true);
}, extra_params => [ '-v', 'ON_ERROR_STOP=1' ]);
is($rc, 0, 'rollback_run of a run written before the update') or diag($err);
is($node->safe_psql('old', 'SELECT md5(string_agg(i::text, \',\' ORDER BY id)) FROM app.items i'),
	$items_before_run, 'its rows are as before the run, soft-deleted ones undeleted');
ok(ag_wait_sealed($node, 'old'), 'compensations sealed');
like($node->safe_psql('old', "SELECT ok || '|' || detail FROM agent_guard.verify_log('$head')"),
	qr/^true\|/, 'and the log verifies');

($rc, $out, $err) = $node->psql('old', 'ALTER EXTENSION agent_guard UPDATE');
like($err, qr/version "\Q$current\E" of extension "agent_guard" is already installed/,
	'a second UPDATE says it is current');

$node->stop;
done_testing();
