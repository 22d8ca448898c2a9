# The agent-guard command line, installed next to psql, driven the way a
# human on call uses it against a live cluster: every subcommand whose SQL
# function exists, its exit codes (0 ok, 1 refused or failed, 2 bad usage,
# 3 no connection), bad input answered in one line, --json that parses, exec
# tagging a libpq program as an agent, and watch printing a NOTIFY live.
# The approval-gate subcommands are checked for their one-line refusal while
# the server has no gates, and for real once agent_guard.approve exists.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use JSON::PP;
use Encode;

my $node = PostgreSQL::Test::Cluster->new('cli');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'");
$node->start;

# the program make install put next to psql
my $bindir = `pg_config --bindir`;
chomp $bindir;
my $ag = "$bindir/agent-guard";
ok(-x $ag, "agent-guard is installed in pg_config --bindir ($bindir)");
# and on Debian's PATH: linked from /usr/bin (ROOT/usr/bin for a copy of
# Debian's tree under ROOT, as the test suites use)
SKIP:
{
	my ($root) = $bindir =~ m{^(.*)/usr/lib/postgresql/[^/]+/bin/?$};
	skip "pg_config --bindir is not Debian's /usr/lib/postgresql/N/bin", 2 unless defined $root;
	ok(-l "$root/usr/bin/agent-guard", "agent-guard is linked from $root/usr/bin, on Debian's PATH");
	is(readlink("$root/usr/bin/agent-guard"), $ag, 'the link points at the installed program');
}

my %conn = (PGHOST => $node->host, PGPORT => $node->port, PGDATABASE => 'postgres', PGUSER => undef);
delete $ENV{$_} for qw(PGOPTIONS PGHOSTADDR PGSERVICE);

# run a program with the cluster's connection environment (plus %env)
sub run_prog
{
	my ($cmd, %env) = @_;
	my ($out, $err) = ('', '');
	local %ENV = (%ENV, %conn, %env);
	delete $ENV{PGUSER} unless defined $ENV{PGUSER};
	for (keys %env) { delete $ENV{$_} unless defined $env{$_}; }
	IPC::Run::run($cmd, '<', \undef, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

sub ag { return run_prog([ $ag, @_ ]); }

sub psql_as
{
	my ($user, $options, $sql) = @_;
	return run_prog([ 'psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-U', $user, '-c', $sql ],
		PGOPTIONS => $options);
}

sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE bot LOGIN;
	CREATE ROLE harness LOGIN;
	CREATE SCHEMA app AUTHORIZATION bot;
	GRANT USAGE ON SCHEMA app TO harness;
	SET ROLE bot;
	CREATE TABLE app.execs (id int PRIMARY KEY, name text);
	INSERT INTO app.execs SELECT g, 'exec ' || g FROM generate_series(1, 20) g;
	GRANT SELECT, INSERT, UPDATE, DELETE ON app.execs TO harness;
	RESET ROLE;
	SELECT agent_guard.protect('app.execs');
	SELECT agent_guard.register_agent('bot');
	CREATE DATABASE noext;
});

my ($rc, $out, $err) = psql_as('bot', '-c agent_guard.run_id=run-cli-1',
	'DELETE FROM app.execs WHERE id <= 4; UPDATE app.execs SET name = $$renamed$$ WHERE id = 7;');
is($rc, 0, 'the agent deletes four rows and renames one') or diag($err);

#
# usage errors: exit 2, one line on stderr, nothing on stdout
#
my @bad = (
	[ [''], 'a command is required', 'an empty command' ],
	[ ['frobnicate'], 'unknown command "frobnicate"', 'unknown command' ],
	[ [ 'runs', '--bogus' ], 'unknown option "--bogus"', 'unknown option' ],
	[ [ 'runs', '--apply' ], 'runs: unknown option "--apply"', 'option of another command' ],
	[ [ 'runs', 'extra' ], 'unexpected argument "extra"', 'extra argument' ],
	[ ['show'], 'show: missing argument', 'show without a run' ],
	[ ['postmortem'], 'postmortem: missing argument', 'postmortem without a run' ],
	[ ['rollback'], 'rollback: missing argument', 'rollback without a run' ],
	[ [ 'rollback', 'r', '--on-conflict', 'maybe' ], '--on-conflict must be "abort" or "skip"', 'bad --on-conflict' ],
	[ ['approve'], 'approve: missing argument', 'approve without an id' ],
	[ [ 'approve', 'abc' ], 'request id must be a positive integer, not "abc"', 'non-numeric id' ],
	[ [ 'deny', '12x' ], 'request id must be a positive integer, not "12x"', 'id with trailing junk' ],
	[ [ 'approve', '0' ], 'request id must be a positive integer, not "0"', 'zero id' ],
	[ [ 'approve', '99999999999999999999999' ], 'positive integer', 'id out of range' ],
	[ [ 'approve', '1', '--note' ], 'option "--note" needs a value', 'option without its value' ],
	[ ['freeze'], 'freeze: missing argument', 'freeze without a reason' ],
	[ [ 'freeze', ' ' ], 'the reason must not be empty', 'blank reason' ],
	[ [ 'watch', '--count', 'x' ], '--count must be a positive integer', 'bad --count' ],
	[ [ 'show', 'r', '--limit', 'x' ], '--limit must be a number of events or "all"', 'bad --limit' ],
	[ [ 'verify', '--head', 'garbage' ], '--head must be a head as agent_guard.log_head() gives it', 'a garbage head' ],
	[ [ 'verify', '--head', '12:abc' ], '--head must be a head', 'a head too short' ],
	[ [ 'exec', '--', 'psql' ], 'exec: --agent is required', 'exec without --agent' ],
	[ [ 'exec', '--agent', 'a' ], 'a command to run is required', 'exec without a command' ],
	[ [ '--apply', 'rollback', 'r' ], 'must follow a command', 'command option before the command' ],
	[ [ 'help', 'nope' ], 'unknown command "nope"', 'help for an unknown command' ],
);
for my $case (@bad)
{
	my ($args, $msg, $what) = @$case;
	($rc, $out, $err) = ag(@$args);
	is($rc, 2, "exit 2: $what");
	like($err, qr/^agent-guard: .*\Q$msg\E[^\n]*\n\z/, "one line saying why: $what");
	is($out, '', "nothing on stdout: $what");
}

# bare agent-guard: the usage on stderr, exit 2
($rc, $out, $err) = ag();
is($rc, 2, 'bare agent-guard exits 2');
like($err, qr/^agent-guard: a command is required\n\nUsage:\n  agent-guard \[OPTION\]\.\.\. COMMAND/, 'and prints the usage');
like($err, qr/^  requests \[--pending\] \[--json\]$/m, 'with every command');
is($out, '', 'nothing on stdout');

# help for the whole and for every command, version
($rc, $out) = ag('--help');
is($rc, 0, '--help exits 0');
like($out, qr/Exit status: 0 ok; 1 refused/, '--help documents the exit codes');
my @commands = qw(runs show postmortem rollback requests approve deny freeze unfreeze verify watch exec);
for my $c (@commands)
{
	like($out, qr/^  \Q$c\E\b/m, "--help lists $c");
	($rc, $out, $err) = ag($c, '--help');
	is($rc, 0, "$c --help exits 0");
	like($out, qr/^Usage:\n  agent-guard \Q$c\E/, "$c --help shows its usage");
	($rc, $out) = ag('--help');
}
($rc, $out) = ag('help', 'rollback');
like($out, qr/--on-conflict skip/, 'help rollback explains --on-conflict');
($rc, $out) = ag('--version');
like($out, qr/^agent-guard \(agent_guard\) \d/, '--version');

#
# connection failures: exit 3, one line
#
($rc, $out, $err) = ag('-h', '/nonexistent/socket/dir', 'runs');
is($rc, 3, 'exit 3 when the server cannot be reached');
like($err, qr/^agent-guard: could not connect: [^\n]*\n\z/, 'one line saying so');
($rc, $out, $err) = ag('-d', 'host=/nonexistent port=1 connect_timeout=2', 'verify');
is($rc, 3, 'a conninfo string in -d is used as a conninfo');
($rc, $out, $err) = ag('-U', 'no_such_role', 'runs');
is($rc, 3, 'exit 3 for an unknown user');
($rc, $out, $err) = ag('-d', 'noext', 'runs');
is($rc, 1, 'exit 1 in a database without the extension');
like($err, qr/^agent-guard: agent_guard is not installed in database "noext"/, 'and says so');
($rc, $out, $err) = ag('-d', "dbname=postgres application_name=oncall", 'runs');
is($rc, 0, 'a conninfo string with a database works') or diag($err);

#
# runs
#
($rc, $out, $err) = ag('runs');
is($rc, 0, 'runs exits 0') or diag($err);
like($out, qr/^run_id\s+agent_id\s+login_role\s+first_write/, 'runs prints a header');
like($out, qr/^-+  -+/m, 'and a rule under it');
like($out, qr/^run-cli-1\s+bot\s+bot\s.*\s4\s+0\s+active$/m, 'a row per run with its counts');
my @lines = grep { /\S/ } split /\n/, $out;
my $status_col = index($lines[0], 'status');
is(index($lines[2], 'active'), $status_col, 'columns are aligned');
like($out, qr/^\(1 row\)$/m, 'row count footer');

($rc, $out, $err) = ag('runs', '--json');
is($rc, 0, 'runs --json exits 0');
my $runs = eval { decode_json($out) };
ok(ref $runs eq 'ARRAY', 'runs --json is a JSON array') or diag($out);
is($runs->[0]{run_id}, 'run-cli-1', 'with the run');
is($runs->[0]{soft_deleted}, 4, 'numbers are JSON numbers');
is($runs->[0]{updated}, 1, 'updated count');
($rc, $out) = ag('runs', '--agent', 'nobody');
like($out, qr/^no agent runs on record$/m, 'runs --agent filters');
($rc, $out) = ag('runs', '--agent', 'bot', '--json');
is(scalar @{ decode_json($out) }, 1, 'runs --agent bot --json');

#
# show
#
# an incident-sized run: the summary and the first rows, not all of them
($rc, $out, $err) = psql_as('bot', '-c agent_guard.run_id=run-cli-big',
	'INSERT INTO app.execs SELECT g, $$bulk$$ FROM generate_series(1000, 1119) g');
is($rc, 0, 'an agent run of 120 rows') or diag($err);
($rc, $out, $err) = ag('show', 'run-cli-big');
is($rc, 0, 'show of a large run exits 0') or diag($err);
like($out, qr/^120 events:\noperation\s+relation\s+events\n-+  -+  -+\nINSERT\s+app\.execs\s+120$/m,
	'show summarises the events by kind');
is(scalar(() = $out =~ /^\s*\d+\s+\S+\s+\d+\s+INSERT\s+app\.execs/mg), 20, 'and lists the first 20 by default');
like($out, qr/^\(20 of 120 events; --limit N or --limit all for more\)$/m, 'saying how many there are');
ok(scalar(split /\n/, $out) < 50, 'in fewer than 50 lines');
($rc, $out) = ag('show', 'run-cli-big', '--limit', '5');
is(scalar(() = $out =~ /^\s*\d+\s+\S+\s+\d+\s+INSERT\s+app\.execs/mg), 5, 'show --limit 5 lists 5');
($rc, $out) = ag('show', 'run-cli-big', '--limit', 'all');
is(scalar(() = $out =~ /^\s*\d+\s+\S+\s+\d+\s+INSERT\s+app\.execs/mg), 120, 'show --limit all lists them all');
like($out, qr/^\(120 events\)$/m, 'and says so');
($rc, $out) = ag('show', 'run-cli-big', '--limit', '0');
unlike($out, qr/^\s*\d+\s+\S+\s+\d+\s+INSERT/m, 'show --limit 0: the summary only');
sql(q{SELECT count(*) FROM agent_guard.rollback_run('run-cli-big', true)});

($rc, $out, $err) = ag('show', 'run-cli-1');
is($rc, 0, 'show exits 0') or diag($err);
like($out, qr/^run_id\s+run-cli-1$/m, 'show prints the summary');
is(scalar(() = $out =~ /^\s*\d+\s+\S+\s+\d+\s+SOFT_DELETE\s+app\.execs/mg), 4, 'show lists the four soft deletes');
like($out, qr/UPDATE\s+app\.execs\s+\{"id": 7\}\s+bot\s+UPDATE app\.execs SET name/, 'and the update with its statement');
($rc, $out) = ag('show', 'run-cli-1', '--json');
my $show = decode_json($out);
is(scalar @{ $show->{events} }, 5, 'show --json has the five events');
is($show->{events}[4]{new_row}{name}, 'renamed', 'with the row images');
($rc, $out, $err) = ag('show', 'no-such-run');
is($rc, 1, 'show of an unknown run exits 1');
like($err, qr/^agent-guard: no run "no-such-run" in the event log\n\z/, 'in one line');
($rc, $out, $err) = ag('show', "x'; DROP TABLE app.execs; --");
is($rc, 1, 'a run id with SQL in it is only a value');
is(sql('SELECT count(*) FROM app.execs WHERE ag_deleted_at IS NULL'), '16', 'nothing was dropped');

#
# postmortem
#
($rc, $out, $err) = ag('postmortem', 'run-cli-1');
is($rc, 0, 'postmortem exits 0') or diag($err);
like($out, qr/^# Postmortem: run run-cli-1$/m, 'postmortem prints the Markdown report');
like($out, qr/rollback_run\('run-cli-1'/, 'with the rollback command');
($rc, $out) = ag('postmortem', 'run-cli-1', '--json');
my $pm = decode_json($out);
is($pm->{summary}{run_id}, 'run-cli-1', 'postmortem --json parses');
($rc, $out, $err) = ag('postmortem', 'no-such-run');
is($rc, 1, 'postmortem of an unknown run exits 1');
like($err, qr/^agent-guard: run "no-such-run" is not in the event log$/m, 'with the server\'s message on one line');

#
# rollback: plan, conflict (abort and skip), apply, twice
#
($rc, $out, $err) = ag('rollback', 'run-cli-1');
is($rc, 0, 'rollback plan exits 0') or diag($err);
like($out, qr/5 to undo, 0 in conflict.*nothing changed \(run again with --apply/, 'the plan says nothing changed');
is(sql('SELECT count(*) FROM app.execs WHERE ag_deleted_at IS NULL'), '16', 'and nothing did');
($rc, $out) = ag('rollback', 'run-cli-1', '--json');
my $plan = decode_json($out);
is(scalar @$plan, 5, 'rollback --json has the five steps');
is_deeply([ sort map { $_->{status} } @$plan ], [ ('planned') x 5 ], 'all planned');

sql(q{UPDATE app.execs SET name = 'human fix' WHERE id = 7});
($rc, $out, $err) = ag('rollback', 'run-cli-1', '--apply');
is($rc, 1, 'rollback --apply with a conflicting row exits 1');
like($err, qr/^agent-guard: cannot roll back run "run-cli-1": 1 row was changed after the run$/m, 'naming the conflict');
like($err, qr/^HINT: Nothing was changed\.  See the plan with "agent-guard rollback run-cli-1", or run "agent-guard rollback run-cli-1 --apply --on-conflict skip" to restore the other rows/m,
	'with a hint in the command line\'s words: --on-conflict skip');
is(sql('SELECT count(*) FROM app.execs WHERE ag_deleted_at IS NULL'), '16', 'nothing was restored');
($rc, $out, $err) = ag('rollback', 'run-cli-1', '--apply', '--on-conflict', 'skip');
is($rc, 1, 'rollback --on-conflict skip that leaves a conflict exits 1');
like($out, qr/rolled back run run-cli-1: 4 undone, 1 in conflict/, 'and says what it did');
is(sql('SELECT count(*) FROM app.execs WHERE ag_deleted_at IS NULL'), '20', 'the deleted rows are back');
is(sql('SELECT name FROM app.execs WHERE id = 7'), 'human fix', 'the human\'s change is kept');

($rc, $out, $err) = psql_as('bot', '-c agent_guard.run_id=run-cli-2',
	'INSERT INTO app.execs VALUES (100, $$new$$), (101, $$new$$)');
is($rc, 0, 'a second run inserts two rows') or diag($err);
($rc, $out, $err) = ag('rollback', '--apply', 'run-cli-2');
is($rc, 0, 'a clean rollback --apply exits 0') or diag($err);
like($out, qr/2 undone, 0 in conflict/, 'two undone');
is(sql('SELECT count(*) FROM app.execs WHERE id >= 100'), '0', 'the inserted rows are gone');
($rc, $out, $err) = ag('rollback', '--apply', 'run-cli-2', '--json');
is($rc, 0, 'rolling back again exits 0');
is_deeply([ map { $_->{status} } @{ decode_json($out) } ], [ ('already rolled back') x 2 ], 'and changes nothing');
like($err, qr/NOTICE: run "run-cli-2" is already rolled back/, 'the server\'s notice is shown');
($rc, $out) = ag('runs', '--json');
is((grep { $_->{run_id} eq 'run-cli-2' } @{ decode_json($out) })[0]{status}, 'rolled back', 'runs shows it rolled back');
($rc, $out, $err) = ag('rollback', 'no-such-run');
is($rc, 1, 'rollback of an unknown run exits 1');
like($err, qr/^agent-guard: [^\n]+\n/, 'with a message');

#
# exec: any libpq program, tagged as an agent, PGOPTIONS kept
#
($rc, $out, $err) = run_prog([ $ag, '-U', 'harness', 'exec', '--agent', 'cli-agent', '--run', 'exec run', '--',
		'psql', '-X', '-A', '-t', '-c',
		"SELECT agent_guard.current_agent(), agent_guard.current_run(), current_setting('work_mem')" ],
	PGOPTIONS => '-c work_mem=7MB');
is($rc, 0, 'exec runs psql') or diag($err);
is($out, "cli-agent|exec run|7MB\n", 'tagged with the agent and run (a space in it too), earlier PGOPTIONS kept');
($rc, $out, $err) = run_prog([ $ag, '-U', 'harness', 'exec', '--agent', 'cli-agent', '--run', 'exec-run',
		'psql', '-X', '-q', '-c', 'INSERT INTO app.execs VALUES (200, $$by exec$$)' ]);
is($rc, 0, 'exec without "--" also works') or diag($err);
is(sql(q{SELECT agent_id || '/' || run_id FROM agent_guard.events WHERE row_key = '{"id": 200}'}),
	'cli-agent/exec-run', 'the write is attributed to the agent and run');
# the README's connection-string wiring: options in a URI
my $uri = 'postgresql:///postgres?host=' . $node->host . '&port=' . $node->port
  . '&user=harness&options=-c%20agent_guard.agent_id%3Duri-agent%20-c%20agent_guard.run_id%3Duri-run';
($rc, $out, $err) = run_prog([ 'psql', '-X', '-A', '-t', '-d', $uri, '-c',
		'SELECT agent_guard.current_agent(), agent_guard.current_run()' ]);
is($out, "uri-agent|uri-run\n", 'a URI with options tags the session as the README says') or diag($err);
($rc, $out, $err) = ag('-d', 'postgresql:///postgres?host=' . $node->host . '&port=' . $node->port, 'runs', '--json');
is($rc, 0, 'agent-guard takes a URI in -d') or diag($err);

($rc, $out, $err) = ag('exec', '--agent', 'a', '--', 'psql', '-X', '-c', 'SELECT nonsense');
is($rc, 1, 'exec exits with the program\'s status');
($rc, $out, $err) = ag('exec', '--agent', 'a', '--', 'no-such-program-here');
is($rc, 127, 'exec of a missing program exits 127');
like($err, qr/^agent-guard: could not run "no-such-program-here": command not found\n\z/, "and says so in one line");

#
# watch: a NOTIFY on channel agent_guard is printed live; SIGINT ends it
#
sub start_watch
{
	my @args = @_;
	my ($wout, $werr) = ('', '');
	local %ENV = (%ENV, %conn);
	delete $ENV{PGUSER};
	my $h = IPC::Run::start([ $ag, 'watch', @args ], '<', \undef, '>', \$wout, '2>', \$werr,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	return ($h, \$wout, \$werr);
}

sub wait_for
{
	my ($h, $buf, $re) = @_;
	my $t = IPC::Run::timer(30);
	$t->start;
	$h->pump while $$buf !~ $re && !$t->is_expired && $h->pumpable;
	return $$buf =~ $re;
}

my ($h, $wout, $werr) = start_watch('--count', '2');
ok(wait_for($h, $wout, qr/watching channel agent_guard/), 'watch says it is listening');
sql(q{SELECT pg_notify('agent_guard', '{"kind": "request", "request_id": 42, "agent_id": "bot", "statement": "DROP TABLE app.execs"}')});
sql(q{SELECT pg_notify('agent_guard', 'not json')});
ok(wait_for($h, $wout, qr/not json/), 'watch printed both notifications in time');
$h->finish;
is($h->result(0), 0, 'watch --count 2 exits 0 after two');
# anyone may NOTIFY on the channel: a request id with no request on record,
# and any other payload, are shown with who sent them
like($$wout, qr/^\d\d:\d\d:\d\d  unverified: no request 42 on record \(notified by (role \w+ \(pid \d+\)|pid \d+, since gone)\)$/m,
	'a payload naming a request that is not on record says so');
unlike($$wout, qr/app\.execs/, 'and shows nothing else of it');
like($$wout, qr/^\d\d:\d\d:\d\d  from (role \w+ \(pid \d+\)|pid \d+, since gone): not json$/m, 'any other payload with its sender');

($h, $wout, $werr) = start_watch('--json');
# --json prints nothing before the first payload: wait until LISTEN is in place
my $listening = 0;
for (1 .. 100)
{
	$listening = sql(q{SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN agent_guard'});
	last if $listening;
	select(undef, undef, undef, 0.1);
}
ok($listening, 'watch --json is listening');
sql(q{SELECT pg_notify('agent_guard', '{"kind": "blocked", "event_id": 9}')});
ok(wait_for($h, $wout, qr/blocked/), 'watch --json printed the payload');
$h->signal('INT');
$h->finish;
is($h->result(0), 0, 'watch exits 0 on SIGINT');
my $note = decode_json((split /\n/, $$wout)[0]);
is(decode_json($note->{payload})->{event_id}, 9, 'watch --json gives the payload as it is');
ok(!defined $note->{request}, 'and no request for a payload that names none');
like($note->{sender}, qr/^(role \w+ \(pid \d+\)|pid \d+, since gone)$/, 'and who sent it');
is($$werr, '', 'nothing on stderr');

# an agent's operator in public, a schema on the human's search_path
# (red team 30, finding 13): text || integer has no exact match in
# pg_catalog, so under that search_path watch's sender lookup would resolve
# to the agent's operator (and the guard's shadow check refuse it); the
# CLI runs its SQL under search_path pg_catalog, pg_temp
sql(q{GRANT CREATE ON SCHEMA public TO bot});
($rc, $out, $err) = psql_as('bot', '', q{CREATE FUNCTION public.cat_ti(text, integer) RETURNS text
	LANGUAGE sql IMMUTABLE AS 'SELECT $1 OPERATOR(pg_catalog.||) $2::text';
	CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = integer, FUNCTION = public.cat_ti)});
is($rc, 0, 'the agent creates public.||(text, integer)') or diag($err);
($h, $wout, $werr) = start_watch('--count', '1');
ok(wait_for($h, $wout, qr/watching channel/), 'watch is listening under the agent\'s operator');
run_prog([ 'psql', '-X', '-q', '-U', 'bot', '-c', q{NOTIFY agent_guard, 'hello from bot'}, '-c', 'SELECT pg_sleep(2)' ]);
ok(wait_for($h, $wout, qr/hello from bot/), 'watch got the agent\'s notification');
$h->finish;
like($$wout, qr/^\d\d:\d\d:\d\d  from role bot \(pid \d+\): hello from bot$/m,
	'watch still names the agent as the sender');
unlike($$wout . $$werr, qr/lookup failed|pid \?/, 'the sender lookup did not fail');
($rc, $out, $err) = ag('runs');
is($rc, 0, 'runs works under the agent\'s operator') or diag($err);
sql(q{DROP FUNCTION public.cat_ti(text, integer) CASCADE; REVOKE CREATE ON SCHEMA public FROM bot});

#
# the approval gates: refused in one line while the server has none
#
my $has_gates = sql(q{SELECT to_regprocedure('agent_guard.approve(bigint,text)') IS NOT NULL}) eq 't';
if (!$has_gates)
{
	for my $args ([ 'requests' ], [ 'approve', '1' ], [ 'deny', '1', '--note', 'no' ],
		[ 'freeze', 'code', 'freeze' ], [ 'unfreeze', '--agent', 'bot' ])
	{
		($rc, $out, $err) = ag(@$args);
		is($rc, 1, "$args->[0] exits 1 without the gates");
		like($err, qr/^agent-guard: this server's agent_guard has no agent_guard\.\w+[^\n]*not in this build\n\z/,
			"$args->[0] says in one line that the gates are not in this build");
	}
}

SKIP:
{
	skip 'the approval gates are not in this build (no agent_guard.approve on the server)', 69
	  unless $has_gates;

	# a destructive statement of the agent is refused and becomes a request
	($h, $wout, $werr) = start_watch('--count', '1');
	ok(wait_for($h, $wout, qr/watching channel/), 'watch is listening for the request');
	($rc, $out, $err) = psql_as('bot', '-c agent_guard.run_id=run-cli-gate', 'TRUNCATE app.execs');
	isnt($rc, 0, 'the agent\'s TRUNCATE is refused');
	my ($req) = $err =~ /request\D*(\d+)/i;
	ok(defined $req, 'the error names the request id') or diag($err);
	ok(wait_for($h, $wout, qr/\Q$req\E/), 'watch shows the request live');
	$h->finish;
	like($$wout, qr/^\d\d:\d\d:\d\d  request $req pending agent=bot run=run-cli-gate kind=approval reason=.* statement=TRUNCATE app\.execs \(notified by .*\)$/m,
		'watch shows the request as on record');

	# the agent forges a notification for its own request, and a freeze:
	# watch shows the request as on record and names the agent as the sender
	($h, $wout, $werr) = start_watch('--count', '2');
	ok(wait_for($h, $wout, qr/watching channel/), 'watch is listening for the agent\'s notifications');
	($rc, $out, $err) = run_prog([ 'psql', '-X', '-q', '-U', 'bot',
			'-c', qq{SELECT pg_notify('agent_guard', '{"event": "blocked", "request_id": $req, "kind": "approval", "statement": "DROP TABLE tmp_scratch"}')},
			'-c', q{SELECT pg_notify('agent_guard', '{"event": "unfreeze", "reason": "all clear"}')},
			'-c', 'SELECT pg_sleep(2)' ]);
	ok(wait_for($h, $wout, qr/all clear/), 'watch got both');
	$h->finish;
	unlike($$wout, qr/tmp_scratch/, 'the forged statement is not shown');
	like($$wout, qr/^\d\d:\d\d:\d\d  request $req pending agent=bot .* statement=TRUNCATE app\.execs \(notified by role bot \(pid \d+\)\)$/m,
		'the request is shown as on record, notified by the agent');
	like($$wout, qr/^\d\d:\d\d:\d\d  from role bot \(pid \d+\): event=unfreeze reason=all clear$/m,
		'a payload that names no request shows the agent as its sender');

	# control characters an agent wrote reach no terminal raw: requests, watch,
	# show, postmortem and the refusal quoted in an error show them escaped
	($h, $wout, $werr) = start_watch('--count', '1');
	ok(wait_for($h, $wout, qr/watching channel/), 'watch is listening for the escape sequence');
	($rc, $out, $err) = psql_as('bot', '-c agent_guard.run_id=run-cli-esc',
		"/*\e[2K\e[1G\xc2\x9b*/ DROP TABLE app.execs /* \x{e2}\x{80}\x{ae} \x07 */");
	my ($reqe) = $err =~ /request\D*(\d+)/i;
	ok(defined $reqe, 'the agent\'s statement with escape sequences is a request') or diag($err);
	ok(wait_for($h, $wout, qr/request $reqe /), 'watch shows it');
	$h->finish;
	($rc, $out, $err) = psql_as('bot', '-c agent_guard.run_id=run-cli-esc',
		"UPDATE app.execs SET name = \$\$\e[2K\e[1G\$\$ /* \e[2K\e[1G */ WHERE id = 9");
	is($rc, 0, 'the agent writes escape sequences into a row') or diag($err);
	($rc, $out, $err) = ag('deny', $reqe, '--note', 'no');
	for my $cmd ([ 'requests' ], [ 'show', 'run-cli-esc' ], [ 'postmortem', 'run-cli-esc' ], [ 'watch' ])
	{
		my $o = $cmd->[0] eq 'watch' ? $$wout : (ag(@$cmd))[1];
		unlike($o, qr/[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae]/, "$cmd->[0]: no control character reaches the terminal");
		# the CLI writes it as \x1b; the postmortem's Markdown already shows
		# it as its code point, \u001b (_md_visible)
		like($o, qr/\\(?:x1b|u001b)\[2K\\(?:x1b|u001b)\[1G/, "$cmd->[0]: the escape sequence is shown as text");
	}
	like($$wout, qr/\\u009b\*\/ DROP TABLE app\.execs \/\* \\u202e \\x07 \*\//, 'C1 controls, bidirectional overrides and BEL too');

	# a line comment in a statement ends at its line break: watch and
	# approve show the code after it on a line of its own, never as part of
	# the comment (red team 17a, finding 2), and a carriage return as \r
	($h, $wout, $werr) = start_watch('--count', '1');
	ok(wait_for($h, $wout, qr/watching channel/), 'watch is listening for the multi-line statement');
	($rc, $out, $err) = psql_as('bot', '-c agent_guard.run_id=run-cli-lines',
		"UPDATE app.execs SET name = lower(name) -- lower-case only\n  , id = id + 1000 -- gone\r WHERE true");
	my ($reqn) = $err =~ /request\D*(\d+)/i;
	ok(defined $reqn, 'the multi-line statement is a request') or diag($err);
	ok(wait_for($h, $wout, qr/request $reqn .*\n.*notified by/), 'watch shows it');
	$h->finish;
	like($$wout, qr/statement=UPDATE app\.execs SET name = lower\(name\) -- lower-case only\n      , id = id \+ 1000 -- gone\\r WHERE true \(notified by /,
		'watch: the line after the comment on a line of its own, indented, and \r shown');
	($rc, $out, $err) = ag('approve', $reqn, '--note', 'read the lines');
	is($rc, 0, 'approve of the multi-line statement exits 0') or diag($err);
	like($out, qr/lower-case only\\n  , id = id/, 'approve: the table shows the line break as \n');
	like($out, qr/^statement:\n    UPDATE app\.execs SET name = lower\(name\) -- lower-case only\n      , id = id \+ 1000 -- gone\\r WHERE true$/m,
		'approve: and the statement as it reads, line by line');
	unlike($out, qr/only  , id = id/, 'approve: no line break shown as a space');

	($rc, $out, $err) = ag('requests');
	is($rc, 0, 'requests exits 0') or diag($err);
	like($out, qr/TRUNCATE/, 'requests lists the refused statement');
	($rc, $out) = ag('requests', '--json');
	my $reqs = decode_json($out);
	ok((grep { ($_->{request_id} // -1) == $req } @$reqs), 'requests --json has the request');

	# a second request stays pending
	($rc, $out, $err) = psql_as('bot', '-c agent_guard.run_id=run-cli-gate3',
		'DELETE FROM app.execs /* ' . ('a long comment that makes the statement wide ' x 5) . '*/');
	my ($req3) = $err =~ /request\D*(\d+)/i;
	ok(defined $req3, 'a second request') or diag($err);

	($rc, $out, $err) = ag('approve', $req, '--note', 'cleared by on-call');
	is($rc, 0, 'approve exits 0') or diag($err);
	my $me = sql('SELECT session_user');
	like($out, qr/^approved request $req$/m, 'approve says what it did');

	($rc, $out, $err) = ag('requests');
	my @rows = grep { /^\s*\d+\s/ } split /\n/, $out;
	is_deeply([ map { /^\s*(\d+)/ } @rows ], [ sort { $a <=> $b } map { /^\s*(\d+)/ } @rows ], 'requests are ordered by id');
	my @wide = grep { length(Encode::decode('UTF-8', $_)) > 100 } split /\n/, $out;
	ok(!@wide, 'requests fits 100 columns') or diag(join "\n", @wide);
	like($out, qr/DELETE FROM app\.execs .*\x{e2}\x{80}\x{a6}$/m, 'a long statement ends in an ellipsis');
	like($out, qr/^\s*$req\s.*\sapproved\s+\Q$me\E\s/m, 'the approver is named');
	($rc, $out, $err) = ag('requests', '--pending');
	is($rc, 0, 'requests --pending exits 0') or diag($err);
	like($out, qr/^\s*$req3\s.*\spending\s/m, 'requests --pending lists the pending one');
	unlike($out, qr/^\s*$req\s/m, 'and not the approved one');
	($rc, $out) = ag('requests', '--pending', '--json');
	is_deeply([ map { $_->{status} } @{ decode_json($out) } ], [ 'pending' ], 'requests --pending --json');

	# the approved TRUNCATE runs; show names the approver as a human
	($rc, $out, $err) = psql_as('bot', '-c agent_guard.run_id=run-cli-gate', 'TRUNCATE app.execs');
	($rc, $out, $err) = ag('show', 'run-cli-gate');
	like($out, qr/^\s*\d+\s.*\sAPPROVED\s.*\shuman \Q$me\E\s*$/m, 'show names the approver, as a human');
	like($out, qr/^\s*\d+\s.*\sBLOCKED\s.*\sbot\s/m, 'and the agent for its blocked attempt');
	($rc, $out, $err) = ag('approve', '999999');
	is($rc, 1, 'approving an unknown request exits 1');

	($rc, $out, $err) = psql_as('bot', '-c agent_guard.run_id=run-cli-gate2', 'DROP TABLE app.execs');
	my ($req2) = $err =~ /request\D*(\d+)/i;
	($rc, $out, $err) = ag('deny', $req2 // 1, '--note', 'no');
	is($rc, 0, 'deny exits 0') or diag($err);

	($rc, $out, $err) = ag('freeze', '--agent', 'bot', 'code', 'freeze');
	is($rc, 0, 'freeze --agent exits 0') or diag($err);
	($rc, $out, $err) = psql_as('bot', '', 'UPDATE app.execs SET name = $$x$$ WHERE id = 5');
	isnt($rc, 0, 'a frozen agent cannot write');
	($rc, $out, $err) = ag('unfreeze', '--agent', 'bot');
	is($rc, 0, 'unfreeze exits 0') or diag($err);
	like($out, qr/^unfroze agent bot$/m, 'and says so');
	($rc, $out, $err) = ag('unfreeze', '--agent', 'bot');
	is($rc, 0, 'unfreeze without a freeze exits 0') or diag($err);
	is($out, "no freeze for agent bot: nothing changed\n", 'and says there was no freeze');
	is($err, '', 'once');

	# a statement too long to be recorded whole (red team 4, finding 10):
	# approve refuses it without its text, and takes the text from a file
	my $long = 'DELETE FROM app.execs /*' . ("\n" x 2100) . '*/';
	($rc, $out, $err) = psql_as('bot', '-c agent_guard.run_id=run-cli-long', $long);
	my ($reql) = $err =~ /request\D*(\d+)/i;
	ok(defined $reql, 'the long statement is a request') or diag($err);
	($rc, $out, $err) = ag('approve', $reql // 1);
	is($rc, 1, 'approving it without its whole text exits 1');
	like($err, qr/cannot be approved without its whole statement/, 'and says why');
	my $file = "${PostgreSQL::Test::Utils::tmp_check}/long_statement.sql";
	PostgreSQL::Test::Utils::append_to_file($file, "$long;\n");
	($rc, $out, $err) = ag('approve', $reql // 1, '--note', 'read it all', '--statement-file', $file);
	is($rc, 0, 'approve --statement-file exits 0') or diag($err);
	like($out, qr/^approved request $reql$/m, 'and approves it with the text read');

	# any role may LISTEN on the channel, an agent too: the guard's own
	# notification names the request by id and carries no statement text,
	# parameters or reason, which humans read in agent_guard.requests
	($h, $wout, $werr) = start_watch('--json', '--count', '1');
	$listening = 0;
	for (1 .. 100)
	{
		$listening = sql(q{SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN agent_guard'});
		last if $listening;
		select(undef, undef, undef, 0.1);
	}
	ok($listening, 'watch --json is listening for the guard\'s notification');
	($rc, $out, $err) = psql_as('bot', '-c agent_guard.run_id=run-cli-ids',
		q{PREPARE wipe(text) AS DELETE FROM app.execs WHERE $1 IS NOT NULL; EXECUTE wipe('secret-param-4711')});
	isnt($rc, 0, 'the agent\'s DELETE with a parameter is refused');
	my ($reqi) = $err =~ /request\D*(\d+)/i;
	ok(defined $reqi, 'the error names the request id') or diag($err);
	ok(wait_for($h, $wout, qr/request_id/), 'watch --json got the guard\'s notification');
	$h->finish;
	$note = decode_json((split /\n/, $$wout)[0]);
	my $payload = decode_json($note->{payload});
	is(join(',', sort keys %$payload), 'agent_id,event,kind,request_id,run_id',
		'the payload has ids and the kind only');
	is($payload->{request_id}, $reqi, 'it names the request');
	unlike($note->{payload}, qr/secret-param|DELETE|app\.execs/, 'no statement text, parameter or relation in it');
	like($note->{request}{statement} // '', qr/secret-param-4711|wipe/, 'the request on record has the statement');
	like($note->{sender}, qr/^the guard's sealer \(pid \d+\)$|^role \w+ \(pid \d+\)$|^pid \d+, since gone$/, 'and who sent it');
	($rc, $out, $err) = psql_as('bot', '', 'SELECT count(*) FROM agent_guard.requests');
	like($err, qr/permission denied/, 'the agent may not read agent_guard.requests');
	($rc, $out, $err) = ag('deny', $reqi // 1, '--note', 'no');
}

#
# verify: ok, then a superuser edits a sealed event
#
sql('SELECT agent_guard.seal_log()');
($rc, $out, $err) = ag('verify');
is($rc, 0, 'verify exits 0 on an intact log') or diag($err);
like($out, qr/^verified\s+ok$/m, 'and says ok');
($rc, $out) = ag('verify', '--json');
my $v = decode_json($out);
ok($v->{ok}, 'verify --json: ok is true');
like($v->{head}, qr/^\d+:[0-9a-f]{64}$/, 'verify --json gives the head');
($rc, $out, $err) = ag('verify', '--head', $v->{head});
is($rc, 0, 'verify --head with the current head exits 0') or diag($err);

my $victim = sql(q{SELECT min(event_id) FROM agent_guard.events WHERE run_id = 'run-cli-1'});
sql(qq{BEGIN; SET LOCAL session_replication_role = replica;
	UPDATE agent_guard.events SET old_row = '{"id": 1, "name": "nothing to see"}' WHERE event_id = $victim; COMMIT;});
($rc, $out, $err) = ag('verify');
is($rc, 1, 'verify exits 1 when a sealed event was edited');
like($out, qr/^verified\s+FAILED$/m, 'and says FAILED');
like($out, qr/^first_bad_event\s+$victim$/m, 'naming the edited event');
like($err, qr/^agent-guard: the event log does not verify\n\z/, 'one line on stderr');
($rc, $out) = ag('verify', '--json');
$v = decode_json($out);
is($rc, 1, 'verify --json exits 1 too');
ok(!$v->{ok}, 'verify --json: ok is false');
is($v->{first_bad_event}, $victim, 'verify --json: first_bad_event');

$node->stop;
done_testing();
