# One truth for a run's state.  In 1.1, after a rollback with
# on_conflict => 'skip' left a conflicting row, agent_guard.runs said
# "partly rolled back" while postmortem and postmortem_json said "rolled
# back"; a human's approval or denial put the human's login role among the
# run's, moved its window and changed the postmortem's transaction count.
# Here a run in each state (active, tripped, partly rolled back, rolled
# back, denied, frozen) is read through agent_guard.runs, postmortem,
# postmortem_json and the command line (runs, show, postmortem): they
# agree on the state, and on the agent's login role, window and
# transactions, whatever the humans did to the run.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use JSON::PP;
use AgentGuardTest;

my $node = PostgreSQL::Test::Cluster->new('run_states');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'\n");
$node->start;

my $bindir = `pg_config --bindir`;
chomp $bindir;
my $ag = "$bindir/agent-guard";

sub sql { return $node->safe_psql('postgres', $_[0]); }

# a human whose name sorts before the agent's, so that a human's act
# counted as the agent's shows in min(login_role)
sql(q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE aaa_oncall LOGIN SUPERUSER;
	CREATE ROLE bot LOGIN;
	CREATE ROLE bot2 LOGIN;
	CREATE SCHEMA app AUTHORIZATION bot;
	GRANT USAGE ON SCHEMA app TO bot2;
	CREATE TABLE app.t (id int PRIMARY KEY, v text);
	ALTER TABLE app.t OWNER TO bot;
	GRANT SELECT, INSERT, UPDATE, DELETE ON app.t TO bot2;
	SELECT agent_guard.protect('app.t', false);
	SELECT agent_guard.register_agent('bot');
	SELECT agent_guard.register_agent('bot2');
	ALTER ROLE bot SET agent_guard.max_rows_per_run = 5;
});

sub agent
{
	my ($role, $run, $sql) = @_;
	return ag_agent_psql($node, 'postgres', $role, $run, $sql);
}

sub human
{
	return $node->safe_psql('postgres', $_[0], connstr => $node->connstr('postgres') . ' user=aaa_oncall');
}

# active
my ($rc, $out, $err) = agent('bot', 'r-active', q{INSERT INTO app.t VALUES (1, 'a'), (2, 'b')});
is($rc, 0, 'active run wrote') or diag($err);

# tripped: more rows than max_rows_per_run
($rc, $out, $err) = agent('bot', 'r-tripped', q{INSERT INTO app.t SELECT g, 'x' FROM generate_series(100, 103) g;
	INSERT INTO app.t SELECT g, 'x' FROM generate_series(104, 107) g;
	INSERT INTO app.t VALUES (108, 'x')});
like($err, qr/tripped/, 'the run is tripped');

# tripped across sessions: each session writes fewer rows than
# max_rows_per_run, together more; the run trips in the session that passes
# it, and stays tripped for the next session
($rc, $out, $err) = agent('bot', 'r-spread', q{INSERT INTO app.t SELECT g, 's' FROM generate_series(200, 201) g});
is($rc, 0, 'spread run: first session wrote 2 rows') or diag($err);
($rc, $out, $err) = agent('bot', 'r-spread', q{INSERT INTO app.t SELECT g, 's' FROM generate_series(202, 203) g});
is($rc, 0, 'spread run: second session wrote 2 more') or diag($err);
($rc, $out, $err) = agent('bot', 'r-spread', q{INSERT INTO app.t SELECT g, 's' FROM generate_series(204, 205) g});
like($err, qr/tripped/, 'spread run: the third session passes the limit and trips the run');
like($err, qr/has written 6 rows/, 'spread run: the count is the run\'s, over its sessions');
($rc, $out, $err) = agent('bot', 'r-spread', q{INSERT INTO app.t VALUES (206, 's')});
like($err, qr/tripped/, 'spread run: a fourth session is refused');

# partly rolled back: a human changed one of its rows, rollback skips it
($rc, $out, $err) = agent('bot', 'r-partly', q{INSERT INTO app.t VALUES (10, 'p'); INSERT INTO app.t VALUES (11, 'p')});
is($rc, 0, 'partly run wrote') or diag($err);
human(q{UPDATE app.t SET v = 'human' WHERE id = 10});
human(q{SELECT count(*) FROM agent_guard.rollback_run('r-partly', true, 'skip')});

# rolled back
($rc, $out, $err) = agent('bot', 'r-back', q{INSERT INTO app.t VALUES (20, 'r'); UPDATE app.t SET v = 'rr' WHERE id = 20});
is($rc, 0, 'rolled-back run wrote') or diag($err);
human(q{SELECT count(*) FROM agent_guard.rollback_run('r-back', true)});

# denied: a gated statement, denied by the human
($rc, $out, $err) = agent('bot', 'r-denied', q{INSERT INTO app.t VALUES (30, 'd')});
is($rc, 0, 'denied run wrote') or diag($err);
($rc, $out, $err) = agent('bot', 'r-denied', q{DELETE FROM app.t});
my ($req) = $err =~ /request (\d+)/;
ok($req, 'the DELETE without WHERE waits for approval') or diag($err);
sleep 1;    # the human acts later than the agent: the window must not move
human("SELECT agent_guard._flush_requests(); SELECT agent_guard.deny($req, 'no')");

# frozen: the run's agent is frozen
($rc, $out, $err) = agent('bot2', 'r-frozen', q{INSERT INTO app.t VALUES (40, 'f')});
is($rc, 0, 'frozen run wrote') or diag($err);
human(q{SELECT agent_guard.freeze('incident', 'bot2')});

my %want = (
	'r-active' => 'active',
	'r-tripped' => 'tripped',
	'r-spread' => 'tripped',
	'r-partly' => 'partly rolled back',
	'r-back' => 'rolled back',
	'r-denied' => 'denied',
	'r-frozen' => 'frozen',
);

sub ag
{
	my ($out, $errout) = ('', '');
	local %ENV = (%ENV, PGHOST => $node->host, PGPORT => $node->port, PGDATABASE => 'postgres',
		PGUSER => 'aaa_oncall');
	IPC::Run::run([ $ag, @_ ], '<', \undef, '>', \$out, '2>', \$errout);
	return ($? >> 8, $out, $errout);
}

my ($crc, $runs_out) = ag('runs');
is($crc, 0, 'agent-guard runs');
for my $run (sort keys %want)
{
	my $state = $want{$run};
	is(human("SELECT status FROM agent_guard.runs WHERE run_id = '$run'"), $state, "$run: runs says $state");
	my $pj = decode_json(human("SELECT agent_guard.postmortem_json('$run')"));
	is($pj->{summary}{status}, $state, "$run: postmortem_json says $state");
	like(human("SELECT agent_guard.postmortem('$run')"), qr/^- Status: \Q$state\E$/m, "$run: postmortem says $state");
	my ($line) = grep { /^\Q$run\E\s/ } split /\n/, $runs_out;
	like($line // '', qr/\s\Q$state\E\s*$/, "$run: agent-guard runs says $state");
	my ($src, $show) = ag('show', $run);
	like($show, qr/^status\s*[:|]?\s*\Q$state\E\s*$/m, "$run: agent-guard show says $state");
	my ($prc, $pm) = ag('postmortem', $run);
	like($pm, qr/^- Status: \Q$state\E$/m, "$run: agent-guard postmortem says $state");

	# the agent's work, the same in runs and postmortem, humans' acts apart
	my ($login, $xacts, $first, $last) = split /\|/,
	  human("SELECT login_role, transactions, first_write, last_write FROM agent_guard.runs WHERE run_id = '$run'");
	like($login, qr/^bot2?$/, "$run: the run's login role is the agent's");
	is_deeply($pj->{summary}{login_roles}, [$login], "$run: postmortem_json names the agent's login role only");
	is($pj->{summary}{transactions}, $xacts, "$run: transactions agree ($xacts)");
	is(human("SELECT '$first'::timestamptz = ('" . $pj->{summary}{first_event} . "')::timestamptz"
			. " AND '$last'::timestamptz = ('" . $pj->{summary}{last_event} . "')::timestamptz"),
		't', "$run: the window agrees");
}

# the denied run: the human's denial is after the agent's window, and shown as the human's
is(human(q{SELECT r.last_write < e.at FROM agent_guard.runs r, agent_guard.events e
	WHERE r.run_id = 'r-denied' AND e.run_id = 'r-denied' AND e.operation = 'DENIED'}),
	't', "the denial does not move the run's window");
like(human("SELECT agent_guard.postmortem('r-denied')"), qr/\| DENIED \|[^\n]*\| human: aaa_oncall \|/,
	'the postmortem shows the denial as a human act');
is(human(q{SELECT human_acts FROM agent_guard.runs WHERE run_id = 'r-denied'}), '1', 'runs counts it as a human act');
is(human(q{SELECT (agent_guard.postmortem_json('r-denied')->'summary'->>'human_acts')}), '1',
	'and so does the postmortem');

$node->stop;
done_testing();
