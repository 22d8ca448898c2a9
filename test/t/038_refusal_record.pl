# Refusals on record where no agent session waits for them (red team 30,
# finding 10; issue 16, "A refused statement is always on record").
#
#   - An agent's index expression (an immutable wrapper over a function
#     that writes a protected table) computed by autovacuum's ANALYZE:
#     refused, and on record as a request of kind "refused" under the
#     agent, naming the autovacuum worker and what it was at, with its
#     BLOCKED event; autovacuum does not wait for the sealer and goes on
#     with the other tables; the data is intact and the log verifies.
#   - An agent's statistics expression drawing a humans' sequence, run by
#     autovacuum's ANALYZE: judged by the margin, refused on record under
#     the agent (red team 34, F3).
#   - A human's seal_log() in a transaction still open holds the chain's
#     lock: the sealer does not wait behind it, so an agent's refusal still
#     returns its request id at once (it used to wait 10 seconds and end
#     in YG009), and what was committed meanwhile is sealed after.
#   - A request still queued when the server stops (here: the agent's wait
#     for it ended by statement_timeout while a human held request_log
#     locked) is written by the sealer as it stops, and is on record after
#     the restart.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use AgentGuardTest;

my $node = PostgreSQL::Test::Cluster->new('refusal_record');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'\n"
	  . "agent_guard.seal_interval = 200\n"
	  . "autovacuum_naptime = 1\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE rr_bot LOGIN;
	SELECT agent_guard.register_agent('rr_bot');
	CREATE SCHEMA hs;
	CREATE TABLE hs.orders (id int PRIMARY KEY, note text);
	INSERT INTO hs.orders SELECT g, 'order ' || g FROM generate_series(1, 5) g;
	SELECT agent_guard.protect('hs.orders', soft_delete => false);
	GRANT USAGE ON SCHEMA hs TO rr_bot;
	GRANT SELECT, INSERT, UPDATE, DELETE ON hs.orders TO rr_bot;
	CREATE SCHEMA bs AUTHORIZATION rr_bot;
	CREATE TABLE hs.other (id int PRIMARY KEY, v int)
	  WITH (autovacuum_analyze_threshold = 1, autovacuum_analyze_scale_factor = 0);
});

# --- autovacuum's ANALYZE runs the agent's index expression
my ($rc, $out, $err) = ag_agent_psql($node, 'postgres', 'rr_bot', 'rr-plant', q{
	CREATE FUNCTION bs.g() RETURNS int LANGUAGE plpgsql VOLATILE AS $$
	BEGIN
	  IF session_user <> 'rr_bot' THEN
	    DELETE FROM hs.orders WHERE id <= 3;
	  END IF;
	  RETURN 1;
	END $$;
	CREATE FUNCTION bs.f(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
	BEGIN PERFORM bs.g(); RETURN $1; END $$;
	CREATE TABLE bs.big (id int PRIMARY KEY, v int)
	  WITH (autovacuum_analyze_threshold = 1, autovacuum_analyze_scale_factor = 0);
	CREATE INDEX ON bs.big (bs.f(v));
	INSERT INTO bs.big SELECT g, g FROM generate_series(1, 3000) g;
});
is($rc, 0, 'the agent plants an index expression that writes a protected table') or diag($err);
$node->safe_psql('postgres', 'INSERT INTO hs.other SELECT g, g FROM generate_series(1, 100) g');

ok($node->poll_query_until('postgres', q{
	SELECT count(*) > 0 FROM agent_guard.request_log
	 WHERE agent_id = 'rr_bot' AND kind = 'refused'
	   AND statement LIKE 'autovacuum: ANALYZE %bs.big%'
	   AND reason LIKE '%is running in an autovacuum worker%'}),
	"autovacuum's refusal is on record under the agent");
my $req = $node->safe_psql('postgres', q{
	SELECT min(request_id) FROM agent_guard.request_log
	 WHERE agent_id = 'rr_bot' AND statement LIKE 'autovacuum: ANALYZE %'});
is($node->safe_psql('postgres', qq{
	SELECT count(*) FROM agent_guard.events
	 WHERE operation = 'BLOCKED' AND agent_id = 'rr_bot'
	   AND (detail ->> 'request_id')::bigint = $req}), '1', 'with its BLOCKED event');
like($node->safe_psql('postgres', qq{
	SELECT login_role || ' / ' || kind || ' / ' || reason FROM agent_guard.requests
	 WHERE request_id = $req}),
	qr/cannot write to protected table hs\.orders from code of agent role "rr_bot"/,
	'the request names the table and the agent');
ok($node->poll_query_until('postgres', q{
	SELECT last_autoanalyze IS NOT NULL FROM pg_stat_user_tables
	 WHERE relid = 'hs.other'::regclass}),
	'autovacuum goes on with the other tables');
is($node->safe_psql('postgres', 'SELECT count(*) FROM hs.orders'), '5', 'the data is intact');
my $log = slurp_file($node->logfile);
like($log, qr/agent_guard: decision=refused request=$req kind=refused agent="rr_bot"/,
	'the decision line is in the server log');
# the human's own ANALYZE of the table is refused, on record, as the human's session's
($rc, $out, $err) = $node->psql('postgres', 'ANALYZE bs.big');
like($err, qr/cannot write to protected table hs\.orders from code of agent role "rr_bot" \(request \d+\)/,
	"a human's ANALYZE is refused with its request named");
# the agent's code is dropped: autovacuum's refusals stop
$node->safe_psql('postgres', 'DROP INDEX bs.big_f_idx');
ok(defined ag_wait_sealed($node, 'postgres', 30), 'the requests are sealed');
is($node->safe_psql('postgres', 'SELECT ok FROM agent_guard.verify_log()'), 't', 'the log verifies');

# --- a human's seal_log() in a transaction still open
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN; SELECT agent_guard.seal_log()');
($rc, $out, $err) = ag_agent_psql($node, 'postgres', 'rr_bot', 'rr-open',
	"INSERT INTO hs.orders VALUES (100, 'agent')");
is($rc, 0, 'an agent write while a human holds the head') or diag($err);
my $t0 = time;
($rc, $out, $err) = ag_agent_psql($node, 'postgres', 'rr_bot', 'rr-open', 'DELETE FROM hs.orders');
my $took = time - $t0;
like($err, qr/needs a human's approval: request (\d+)/, "the agent's refusal names its request");
my ($open_req) = $err =~ /request (\d+)/;
cmp_ok($took, '<', 5, sprintf('at once (%.2f s), not after 10 s', $took));
unlike($err, qr/YG009|could not record/, 'not YG009');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM agent_guard.request_log WHERE request_id = " . ($open_req // 0)),
	'1', 'the request is on record');
my $pid = $node->safe_psql('postgres',
	"SELECT pid FROM agent_guard.sealer_status() WHERE database = current_database()");
isnt($node->safe_psql('postgres',
	"SELECT coalesce(wait_event_type, '') FROM pg_stat_activity WHERE pid = $pid"),
	'Lock', 'the sealer does not wait for the lock');
$holder->query_safe('COMMIT');
$holder->quit;
ok(defined ag_wait_sealed($node, 'postgres'), 'after the COMMIT the sealer seals what waited');
is($node->safe_psql('postgres', 'SELECT ok FROM agent_guard.verify_log()'), 't', 'the log verifies');

# --- a request still queued when the server stops
$holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN; LOCK agent_guard.request_log IN SHARE MODE');
($rc, $out, $err) = $node->psql('postgres', "SET statement_timeout = '1s'; ALTER TABLE hs.orders DISABLE TRIGGER ALL",
	connstr => $node->connstr('postgres') . " user=rr_bot options='-c agent_guard.run_id=rr-stop'");
like($err, qr/statement timeout/, "the agent's wait for its request ends by statement_timeout");
my $queued = $node->safe_psql('postgres', q{
	SELECT max(request_id) FROM agent_guard.requests WHERE run_id = 'rr-stop'});
ok($queued ne '', "the request waits in the queue ($queued)");
$node->stop('fast');
eval { $holder->quit };
$node->start;
is($node->safe_psql('postgres',
	"SELECT count(*) FROM agent_guard.request_log WHERE request_id = $queued"),
	'1', 'the sealer wrote it as it stopped: on record after the restart');
# Which of the sealer's writes took it is a race: the fast shutdown ends
# the holder and the sealer together, and the sealer's pass that waited for
# the holder's lock may commit before it sees its own termination; only when
# it does not does its last write at exit log "recorded N refused
# statement(s) of the queue as it stopped".  Either way it is on record.
ok(defined ag_wait_sealed($node, 'postgres'), 'sealed');
is($node->safe_psql('postgres', 'SELECT ok FROM agent_guard.verify_log()'), 't', 'the log verifies');

# --- autovacuum's ANALYZE runs the agent's statistics expression, which
# draws the humans' sequence (red team 34, F3): judged by the margin as in
# the agent's session, refused on record under the agent
$node->safe_psql('postgres', q{
	CREATE TABLE hs.tk (id smallserial PRIMARY KEY, t text);
	SELECT agent_guard.protect('hs.tk', soft_delete => false);
	GRANT USAGE ON SEQUENCE hs.tk_id_seq TO rr_bot;
});
($rc, $out, $err) = ag_agent_psql($node, 'postgres', 'rr_bot', 'rr-seq', q{
	CREATE FUNCTION bs.drawn(text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
	BEGIN PERFORM nextval('hs.tk_id_seq') FROM generate_series(1, 20); RETURN $1; END $$;
	CREATE TABLE bs.st (id int, t text)
	  WITH (autovacuum_analyze_threshold = 1, autovacuum_analyze_scale_factor = 0);
	CREATE STATISTICS bs.st_s ON (bs.drawn(t)), id FROM bs.st;
	INSERT INTO bs.st SELECT g, 'x' || g FROM generate_series(1, 3000) g;
});
is($rc, 0, "the agent plants a statistics expression that draws the humans' sequence") or diag($err);
ok($node->poll_query_until('postgres', q{
	SELECT count(*) > 0 FROM agent_guard.request_log
	 WHERE agent_id = 'rr_bot' AND kind = 'refused'
	   AND reason LIKE '%numbers protected table hs.tk %'
	   AND reason LIKE '%from function bs.drawn(text) of agent role "rr_bot"%'}),
	"autovacuum's draw below the margin is refused, on record under the agent");
is($node->safe_psql('postgres', 'SELECT 32767 - last_value >= 16383 FROM hs.tk_id_seq'), 't',
	'the sequence keeps its margin');
is($node->safe_psql('postgres', "INSERT INTO hs.tk (t) VALUES ('human') RETURNING id > 0"), 't',
	"a human's insert takes a key");
$node->safe_psql('postgres', 'DROP STATISTICS bs.st_s');
ok(defined ag_wait_sealed($node, 'postgres'), 'sealed');
is($node->safe_psql('postgres', 'SELECT ok FROM agent_guard.verify_log()'), 't', 'the log verifies');

$node->stop;
done_testing();
