# What a statement reaches counts, with sessions and connections that a
# single pg_regress script cannot have.
#
# Scratch space: in 1.1 a table the agent created stayed its scratch space
# for the whole session, also after a human protected it and filled it
# from another connection; the agent's TRUNCATE, DROP of a partition it
# had added, or DROP SCHEMA ... CASCADE of a schema it had created then
# destroyed the human's rows without a request or an event.
#
# Name resolution race: the gate resolved a name itself, then DROP
# resolved it again under lock.  With search_path = s1, public and a
# scratch table s1.a_tab, a second agent connection held a lock on
# s1.a_tab and renamed it away while the first one's DROP TABLE a_tab
# waited: the gate had judged the exempt s1.a_tab, DROP dropped the
# protected public.a_tab.  The object-access backstop judges the relation
# DROP really locked.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('reach');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE ROLE reach_bot LOGIN;
	CREATE EXTENSION agent_guard;
	SELECT agent_guard.register_agent('reach_bot');
	GRANT CREATE ON DATABASE postgres TO reach_bot;
	GRANT CREATE, USAGE ON SCHEMA public TO reach_bot;
});

sub agent_session
{
	my ($run) = @_;
	my $s = $node->background_psql('postgres', on_error_stop => 0,
		extra_params => [ '-d', $node->connstr('postgres')
			  . " user=reach_bot options='-cagent_guard.run_id=$run'" ]);
	$s->query_safe('\set VERBOSITY verbose');
	return $s;
}

# run SQL in a session; returns what it wrote on stderr
sub try_sql
{
	my ($s, $sql) = @_;
	$s->{stderr} = '';
	$s->query($sql);
	my $err = $s->{stderr};
	$s->{stderr} = '';
	return $err;
}

sub requests_for
{
	my ($statement) = @_;
	$node->safe_psql('postgres', 'SELECT agent_guard._flush_requests()');
	return $node->safe_psql('postgres',
		"SELECT kind || ': ' || reason FROM agent_guard.requests WHERE statement = '$statement' ORDER BY request_id");
}

# ---------------------------------------------------------------------
# A table the session created is no scratch once a human protects it
# ---------------------------------------------------------------------
my $a = agent_session('run-scratch');
$a->query_safe(q{
	CREATE TABLE invoices (id int PRIMARY KEY, amount numeric);
	CREATE TABLE events_p (id int, day date, PRIMARY KEY (id, day)) PARTITION BY RANGE (day);
	CREATE TABLE events_p_2026 PARTITION OF events_p FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
	CREATE SCHEMA mine;
	CREATE TABLE mine.ledger (id int PRIMARY KEY);
	CREATE TABLE scratch_only (id int);
	GRANT ALL ON invoices, events_p, mine.ledger TO PUBLIC;
	GRANT USAGE ON SCHEMA mine TO PUBLIC;
});
# a human protects them and writes, while the agent's session stays open
$node->safe_psql('postgres', q{
	SELECT agent_guard.protect('invoices');
	SELECT agent_guard.protect('events_p');
	SELECT agent_guard.protect('mine.ledger');
	INSERT INTO invoices SELECT g, g * 10 FROM generate_series(1, 50) g;
	INSERT INTO events_p SELECT g, '2026-06-01' FROM generate_series(1, 50) g;
	INSERT INTO mine.ledger SELECT generate_series(1, 5);
});

like(try_sql($a, 'TRUNCATE invoices'), qr/ERROR:  YG003: TRUNCATE needs a human's approval/,
	'TRUNCATE of a table the session created, now protected: YG003');
like(try_sql($a, 'DROP TABLE events_p_2026'), qr/ERROR:  YG003: DROP needs a human's approval/,
	'DROP of a partition the session added to a now protected table: YG003');
like(try_sql($a, 'DELETE FROM invoices'), qr/ERROR:  YG003: DELETE needs a human's approval/,
	'DELETE without WHERE on it: YG003');
my $err = try_sql($a, 'DROP SCHEMA mine CASCADE');
like($err, qr/ERROR:  YG003: DROP SCHEMA needs a human's approval/,
	'DROP SCHEMA ... CASCADE of a schema the session created reaches the protected table: YG003');
like($err, qr/it drops protected table mine\.ledger/, 'the request names the protected table');
is(try_sql($a, 'TRUNCATE scratch_only; DROP TABLE scratch_only'), '',
	'the scratch table nobody protected is still the agent\'s scratch space');
is($node->safe_psql('postgres',
	'SELECT (SELECT count(*) FROM invoices) || \'/\' || (SELECT count(*) FROM events_p) || \'/\' || (SELECT count(*) FROM mine.ledger)'),
	'50/50/5', 'the human\'s rows are all there');
like(requests_for('TRUNCATE invoices'), qr/^approval: /, 'the TRUNCATE request is on record');
like(requests_for('DROP SCHEMA mine CASCADE'), qr/mine\.ledger/, 'the DROP SCHEMA request is on record');
$a->quit;

# ---------------------------------------------------------------------
# Name resolution race: the gate's name and DROP's name differ
# ---------------------------------------------------------------------
$node->safe_psql('postgres', q{
	CREATE TABLE public.a_tab (id int PRIMARY KEY, v text);
	ALTER TABLE public.a_tab OWNER TO reach_bot;
	SELECT agent_guard.protect('public.a_tab');
	INSERT INTO public.a_tab SELECT g, 'human ' || g FROM generate_series(1, 20) g;
});
$a = agent_session('run-race');
my $locker = agent_session('run-race-2');
$a->query_safe(q{
	CREATE SCHEMA s1;
	CREATE TABLE s1.a_tab (id int);
	SET search_path = s1, public;
});
my $a_pid = $a->query_safe('SELECT pg_backend_pid()');
# the second connection lets the gate look at s1.a_tab but holds DROP off
$locker->query_safe('BEGIN; LOCK TABLE s1.a_tab IN SHARE MODE');
$a->{stderr} = '';
$a->query_until(qr/dropping/, "\\echo dropping\nDROP TABLE a_tab;\n");
ok($node->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM pg_locks WHERE pid = $a_pid AND NOT granted"),
	'the agent\'s DROP waits for its lock');
$locker->query_safe('ALTER TABLE s1.a_tab RENAME TO gone; COMMIT');
$a->query('SELECT 1');
like($a->{stderr}, qr/ERROR:  YG003: DROP TABLE needs a human's approval/,
	'DROP re-resolved to the protected table: refused (YG003)');
like($a->{stderr}, qr/it drops protected table public\.a_tab/, 'on the table it really locked');
is($node->safe_psql('postgres', "SELECT count(*) FROM public.a_tab"), '20',
	'the protected table and its rows are there');
is($node->safe_psql('postgres', "SELECT to_regclass('s1.gone') IS NOT NULL"), 't',
	'the renamed scratch table is there');
like(requests_for('DROP TABLE a_tab'), qr/public\.a_tab/, 'the request is on record');
$a->quit;
$locker->quit;

# ---------------------------------------------------------------------
# Humans keep their power
# ---------------------------------------------------------------------
$node->safe_psql('postgres', q{
	TRUNCATE invoices;
	DROP TABLE events_p_2026;
	DROP SCHEMA mine CASCADE;
	DROP TABLE public.a_tab;
});
is($node->safe_psql('postgres',
	"SELECT (SELECT count(*) FROM invoices) || '/' || coalesce(to_regclass('mine.ledger')::text, 'gone')"),
	'0/gone', 'a human truncates and drops them');
is($node->safe_psql('postgres', 'SELECT ok FROM agent_guard.verify_log()'), 't', 'the log verifies');

$node->stop;
done_testing();
