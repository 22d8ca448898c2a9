# Behind a real PgBouncer (transaction and session pooling, TCP, SCRAM), one
# server process serves client after client.  Identity must follow the
# client, not the process: a registered role is always its agent, a harness
# tag set with SET LOCAL tags that transaction only, run labels and
# generated runs never carry over to the next client, and no human is ever
# taken for an agent.  Approvals and idempotency keys work through the
# pooler, whatever server process the retry lands on, and only for the
# values approved.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AgentGuardPooler;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('pooled');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'agent_guard'
listen_addresses = '127.0.0.1'
password_encryption = 'scram-sha-256'
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE bot LOGIN PASSWORD 'bot-secret';
	CREATE ROLE harness LOGIN PASSWORD 'harness-secret';
	CREATE ROLE dba LOGIN PASSWORD 'dba-secret';
	CREATE TABLE invoices (id int PRIMARY KEY, amount numeric, status text);
	INSERT INTO invoices SELECT g, g * 10, 'open' FROM generate_series(1, 20) g;
	GRANT SELECT, INSERT, UPDATE, DELETE ON invoices TO bot, harness, dba;
	SELECT agent_guard.protect('invoices');
	SELECT agent_guard.register_agent('bot', 'billing-agent');
});
my $hba = $node->data_dir . '/pg_hba.conf';
open(my $fh, '>', $hba) or die $!;
print $fh "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n";
close $fh;
$node->reload;

my $pgb = ag_pgbouncer_start($node, {
	users => { bot => 'bot-secret', bot2 => 'bot2-secret', harness => 'harness-secret', dba => 'dba-secret' },
	pools => { txn => 'transaction', sess => 'session' } });

sub through
{
	my ($pool, $user, $sql, %env) = @_;
	return ag_pgbouncer_psql($pgb, $pool, $user, $sql, %env);
}

# events of the invoices table since event $from: "agent/run/operation/id"
sub events_since
{
	my ($from) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT string_agg(format('%s/%s/%s/%s', coalesce(agent_id, '-'), coalesce(run_id, '-'),
		                         operation, row_key->>'id'), ',' ORDER BY event_id)
		  FROM agent_guard.events
		 WHERE relation = 'public.invoices' AND event_id > $from
		   AND operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE')});
}
sub last_event { return $node->safe_psql('postgres', 'SELECT coalesce(max(event_id), 0) FROM agent_guard.events'); }

my ($rc, $out, $err);

# PgBouncer refuses the options startup parameter: a harness tag in PGOPTIONS
# fails loudly, it is never dropped silently
($rc, $out, $err) = through('txn', 'harness', 'SELECT agent_guard.current_agent()',
	PGOPTIONS => '-c agent_guard.agent_id=claude-code');
isnt($rc, 0, 'a tag in the connection options is refused by the pooler, not dropped');
like($err, qr/unsupported startup parameter: options/, 'PgBouncer says why');

# --- transaction pooling, registered role: labels are per transaction ---
my $mark = last_event();
my @pids;
for my $c (1, 2)
{
	($rc, $out, $err) = through('txn', 'bot', [
		'BEGIN', "SET LOCAL agent_guard.run_id = 'run-client-$c'",
		"UPDATE invoices SET status = 'c$c' WHERE id = $c",
		'SELECT pg_backend_pid() || \'/\' || agent_guard.current_run()', 'COMMIT' ]);
	is($rc, 0, "client $c labels its own transaction") or diag($err);
	my ($pid, $run) = split m{/}, $out;
	push @pids, $pid;
	is($run, "run-client-$c", "client $c sees its own run");
}
is($pids[0], $pids[1], 'both clients were served by one server process');
# unlabelled clients: each transaction gets a run of its own
for my $c (3, 4)
{
	($rc, $out, $err) = through('txn', 'bot', "UPDATE invoices SET status = 'c$c' WHERE id = $c");
	is($rc, 0, "unlabelled client $c writes") or diag($err);
}
my $ev = events_since($mark);
like($ev, qr{^billing-agent/run-client-1/UPDATE/1,billing-agent/run-client-2/UPDATE/2,billing-agent/(run-\d{8}T\d{6}Z-[0-9a-f]{12})/UPDATE/3,billing-agent/(run-\d{8}T\d{6}Z-[0-9a-f]{12})/UPDATE/4$},
	'labelled transactions keep their labels, unlabelled ones get generated runs');
my @gen = $ev =~ m{/(run-\d{8}T[^/]*)/UPDATE/[34]}g;
isnt($gen[0], $gen[1], 'two unlabelled clients on one server process are two runs');

# --- transaction pooling, shared role: SET LOCAL tags one transaction ---
$mark = last_event();
($rc, $out, $err) = through('txn', 'harness', [
	'BEGIN', "SET LOCAL agent_guard.agent_id = 'claude-code'", "SET LOCAL agent_guard.run_id = 'run-claude'",
	"UPDATE invoices SET status = 'claude' WHERE id = 5",
	'SELECT pg_backend_pid() || \'/\' || agent_guard.current_agent()', 'COMMIT' ]);
is($rc, 0, 'a harness tags its transaction with SET LOCAL') or diag($err);
my ($tag_pid, $tag_agent) = split m{/}, $out;
is($tag_agent, 'claude-code', 'the transaction acts as the tagged agent');
($rc, $out, $err) = through('txn', 'harness', [
	"UPDATE invoices SET status = 'human' WHERE id = 6",
	'SELECT pg_backend_pid() || \'/\' || coalesce(agent_guard.current_agent(), \'human\')' ]);
is($rc, 0, 'the next client of the shared role writes') or diag($err);
my ($h_pid, $h_agent) = split m{/}, $out;
is($h_pid, $tag_pid, 'on the same server process');
is($h_agent, 'human', 'and is not taken for the agent of the previous client');
($rc, $out, $err) = through('txn', 'harness', [
	'BEGIN', "SET LOCAL agent_guard.agent_id = 'codex'",
	"UPDATE invoices SET status = 'codex' WHERE id = 7", 'COMMIT' ]);
is($rc, 0, 'a second agent tags its own transaction on that process') or diag($err);
is(events_since($mark), 'claude-code/run-claude/UPDATE/5,codex/' . ($node->safe_psql('postgres',
	"SELECT ag_run_id FROM invoices WHERE id = 7")) . '/UPDATE/7',
	'each tagged transaction is attributed to its agent, the human write is not logged');
is($node->safe_psql('postgres', 'SELECT coalesce(ag_agent_id, \'-\') FROM invoices WHERE id = 6'), '-',
	'the human write carries no agent stamp');
# a human's own role through the pooler
($rc, $out, $err) = through('txn', 'dba', 'SELECT coalesce(agent_guard.current_agent(), \'human\')');
is($out, 'human', 'a human role through the pooler is a human') or diag($err);
# the agent cannot shed its tag within its transaction
($rc, $out, $err) = through('txn', 'harness', [
	'BEGIN', "SET LOCAL agent_guard.agent_id = 'claude-code'", "SET LOCAL agent_guard.agent_id = ''" ]);
like($err, qr/cannot change the agent identity/, 'a tagged transaction cannot drop its tag');

# --- session pooling: DISCARD ALL between clients ---
($rc, $out, $err) = through('sess', 'bot', [
	"SET agent_guard.run_id = 'run-sess-1'",
	"UPDATE invoices SET status = 's1' WHERE id = 8",
	'SELECT pg_backend_pid() || \'/\' || agent_guard.current_run()' ]);
is($rc, 0, 'a session label in session mode') or diag($err);
my ($s_pid, $s_run) = split m{/}, $out;
is($s_run, 'run-sess-1', 'holds for the client session');
($rc, $out, $err) = through('sess', 'bot', 'SELECT pg_backend_pid() || \'/\' || agent_guard.current_run()');
my ($s2_pid, $s2_run) = split m{/}, $out;
is($s2_pid, $s_pid, 'the next client gets the same server process');
like($s2_run, qr/^run-\d{8}T/, 'but not the previous client\'s run (DISCARD ALL reset it)');
($rc, $out, $err) = through('sess', 'harness', [
	'BEGIN', "SET LOCAL agent_guard.agent_id = 'claude-code'",
	"UPDATE invoices SET status = 'sess-tag' WHERE id = 9", 'COMMIT',
	'SELECT coalesce(agent_guard.current_agent(), \'human\')' ]);
is($out, 'human', 'in session mode a SET LOCAL tag ends with its transaction too') or diag($err);
($rc, $out, $err) = through('sess', 'dba', 'SELECT coalesce(agent_guard.current_agent(), \'human\')');
is($out, 'human', 'a human through the session pooler is a human') or diag($err);

# --- approvals through the pooler ---
($rc, $out, $err) = through('txn', 'bot', 'DELETE FROM invoices');
like($err, qr/ERROR:  DELETE needs a human's approval: request (\d+)/, 'a destructive statement waits for a human');
my ($req) = $err =~ /request (\d+)/;
$node->safe_psql('postgres', 'SELECT agent_guard._flush_requests()');
is($node->safe_psql('postgres', "SELECT agent_id || '/' || status FROM agent_guard.requests WHERE request_id = $req"),
	'billing-agent/pending', 'the request is on record for the agent');
$node->safe_psql('postgres', "SELECT agent_guard.approve($req, 'through the pooler')");
($rc, $out, $err) = through('txn', 'bot', 'DELETE FROM invoices');
is($rc, 0, 'after approval the retry through the pooler (another client) runs') or diag($err);
($rc, $out, $err) = through('txn', 'bot', 'DELETE FROM invoices');
like($err, qr/needs a human's approval: request \d+/, 'once');

# --- idempotency keys through the pooler ---
($rc, $out, $err) = through('txn', 'bot', [
	'BEGIN', "SET LOCAL agent_guard.idempotency_key = 'refund-42'",
	"INSERT INTO invoices VALUES (42, 42, 'refund')", 'COMMIT' ]);
is($rc, 0, 'a keyed transaction through the pooler') or diag($err);
($rc, $out, $err) = through('txn', 'bot', [
	'BEGIN', "SET LOCAL agent_guard.idempotency_key = 'refund-42'",
	"INSERT INTO invoices VALUES (43, 43, 'refund')", 'COMMIT' ]);
like($err, qr/idempotency key "refund-42"/, 'the same key from another client is refused');
($rc, $out, $err) = through('txn', 'bot', "INSERT INTO invoices VALUES (44, 44, 'next')");
is($rc, 0, 'the key does not leak into the next client\'s transaction') or diag($err);
is($node->safe_psql('postgres', 'SELECT string_agg(id::text, \',\' ORDER BY id) FROM invoices WHERE id > 40'),
	'42,44', 'nothing was written twice');

# --- an approval is bound to the statement and its values, not to a server process ---
# A prepared DELETE over the row limit; its retry lands on another server
# process (the pooler is restarted in between): admitted once; other
# values are a new request; the used approval admits nothing more.
$node->safe_psql('postgres', q{
	CREATE TABLE ledger (id int PRIMARY KEY, amount numeric);
	GRANT SELECT, INSERT, DELETE ON ledger TO bot;
	ALTER ROLE bot SET agent_guard.max_rows_per_statement = 5;
});
my $refill = 'INSERT INTO ledger SELECT g, g FROM generate_series(1, 40) g ON CONFLICT DO NOTHING';
# DEALLOCATE ALL: in transaction mode the server keeps a previous client's statement
my $exec = sub { "DEALLOCATE ALL; PREPARE d(int) AS DELETE FROM ledger WHERE id <= \$1; EXECUTE d($_[0])" };
for my $pool ('txn', 'sess')
{
	$node->safe_psql('postgres', $refill);
	$pgb = ag_pgbouncer_restart($pgb);	# the setting, in a fresh server process
	($rc, $out, $err) = through($pool, 'bot', [ 'SELECT pg_backend_pid()', $exec->(10) ]);
	my $pid1 = $out;
	like($err, qr/ERROR:  DELETE needs a human's approval: request (\d+)/, "$pool: ten rows wait for a human");
	my ($areq) = $err =~ /request (\d+)/;
	$node->safe_psql('postgres', 'SELECT agent_guard._flush_requests()');
	is($node->safe_psql('postgres', "SELECT statement || '/' || parameters FROM agent_guard.requests WHERE request_id = $areq"),
		'PREPARE d(int) AS DELETE FROM ledger WHERE id <= $1/$1 = \'10\'',
		"$pool: the request shows the prepared statement and its value");
	$node->safe_psql('postgres', "SELECT agent_guard.approve($areq)");
	$pgb = ag_pgbouncer_restart($pgb);

	($rc, $out, $err) = through($pool, 'bot', $exec->(20));
	like($err, qr/needs a human's approval: request (\d+)/, "$pool: other values are refused");
	my ($oreq) = $err =~ /request (\d+)/;
	isnt($oreq // '', $areq, "$pool: as a new request");

	($rc, $out, $err) = through($pool, 'bot', [ $exec->(10), 'SELECT pg_backend_pid()' ]);
	is($rc, 0, "$pool: the approved values run") or diag($err);
	isnt($out, $pid1, "$pool: on another server process than the refused statement's");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM ledger'), '30', "$pool: ten rows deleted");
	$node->safe_psql('postgres', 'SELECT agent_guard._flush_requests()');
	is($node->safe_psql('postgres', "SELECT status FROM agent_guard.requests WHERE request_id = $areq"),
		'used', "$pool: the approval is used");

	$node->safe_psql('postgres', $refill);
	($rc, $out, $err) = through($pool, 'bot', $exec->(10));
	like($err, qr/needs a human's approval: request (\d+)/, "$pool: the used approval admits nothing more");
	my ($again) = $err =~ /request (\d+)/;
	ok(defined $again && $again ne $areq && $again ne $oreq, "$pool: the retry is a new request");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM ledger'), '40', "$pool: nothing deleted");
}
$node->safe_psql('postgres', 'ALTER ROLE bot RESET agent_guard.max_rows_per_statement');

# --- the run limit counts a run across reconnects, pooled and direct ---
$node->safe_psql('postgres', q{ALTER ROLE bot SET agent_guard.max_rows_per_run = 5});
# direct connections: each a server process of its own
sub direct
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	local %ENV = (%ENV, PGPASSWORD => 'bot-secret', PGHOST => '127.0.0.1', PGPORT => $node->port);
	delete $ENV{$_} for qw(PGHOSTADDR PGOPTIONS);
	my @cmds = map { ('-c', $_) } @$sql;
	my $ok = IPC::Run::run [ 'psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
		'-U', 'bot', '-d', 'postgres', @cmds ], '>', \$out, '2>', \$err;
	return ($ok ? 0 : 1, $out, $err);
}
# the pool's server process predates the setting: start a fresh one
$pgb = ag_pgbouncer_restart($pgb);
my @tx = ('BEGIN', "SET LOCAL agent_guard.run_id = 'run-reconnects'");
for my $i (1 .. 5)
{
	my @sql = (@tx, "INSERT INTO invoices VALUES (" . (100 + $i) . ", 1, 'r')", 'COMMIT');
	($rc, $out, $err) = $i % 2 ? through('txn', 'bot', \@sql) : direct(\@sql);
	is($rc, 0, "row $i of the run, " . ($i % 2 ? 'through the pooler' : 'on a direct connection')) or diag($err);
}
($rc, $out, $err) = direct([ @tx, "INSERT INTO invoices VALUES (106, 1, 'r')", 'COMMIT' ]);
like($err, qr/run "run-reconnects" is tripped/, 'the sixth row of the run, from a sixth connection, trips it');
($rc, $out, $err) = through('txn', 'bot', [ @tx, "INSERT INTO invoices VALUES (107, 1, 'r')", 'COMMIT' ]);
like($err, qr/run "run-reconnects" is tripped/, 'and the pooled connection sees the trip');
($rc, $out, $err) = through('txn', 'bot', [ 'BEGIN', "SET LOCAL agent_guard.run_id = 'run-next'",
	"INSERT INTO invoices VALUES (108, 1, 'r')", 'COMMIT' ]);
is($rc, 0, 'the next client\'s run on that server process is not tripped') or diag($err);
$node->safe_psql('postgres', 'SELECT agent_guard._flush_requests()');
is($node->safe_psql('postgres', q{SELECT inserted || '/' || transactions || '/' || status FROM agent_guard.runs WHERE run_id = 'run-reconnects'}),
	'5/5/tripped', 'the runs view counts the run across its sessions');
$node->safe_psql('postgres', q{ALTER ROLE bot RESET agent_guard.max_rows_per_run});

# --- session pooling with generated runs per session: DISCARD ALL ends them ---
$node->safe_psql('postgres', q{
	CREATE ROLE bot2 LOGIN PASSWORD 'bot2-secret';
	GRANT SELECT, INSERT, UPDATE, DELETE ON invoices TO bot2;
	SELECT agent_guard.register_agent('bot2', 'session-agent');
	ALTER ROLE bot2 SET agent_guard.generated_runs = 'session';
});
for my $c (1, 2)
{
	($rc, $out, $err) = through('sess', 'bot2', [
		"INSERT INTO invoices VALUES (" . (200 + 2 * $c) . ", 1, 's')",
		"INSERT INTO invoices VALUES (" . (201 + 2 * $c) . ", 1, 's')",
		'SELECT pg_backend_pid()' ]);
	is($rc, 0, "unlabelled client $c in session mode") or diag($err);
}
is($node->safe_psql('postgres', q{SELECT string_agg(n::text, ',') FROM (SELECT count(*) AS n FROM agent_guard.events
	WHERE agent_id = 'session-agent' GROUP BY run_id ORDER BY min(event_id)) x}),
	'2,2', 'each client session is one generated run, not merged with the next one');

# --- a SET LOCAL-tagged transaction cannot take over a human's prepared
# statement (red team 18b, finding 3): protocol-level steps, through the
# transaction pool (one server process), with a small libpq client ---
SKIP:
{
	my $src = $ENV{AG_SRC} // '.';
	my $tool = PostgreSQL::Test::Utils::tempdir('pq_steps') . '/pq_steps';
	my ($cout, $cerr) = ('', '');
	my $built = IPC::Run::run [ 'cc', '-o', $tool, "$src/test/drivers/pq_steps.c",
		'-I/usr/include/postgresql', '-lpq' ], '>', \$cout, '2>', \$cerr;
	skip "cannot build test/drivers/pq_steps.c (a C compiler and libpq-dev): $cerr", 14 unless $built;

	# one client session through the pooler: one output line per step
	my $steps = sub {
		my ($user, @lines) = @_;
		my ($o, $e) = ('', '');
		IPC::Run::run [ $tool, "host=127.0.0.1 port=$pgb->{port} dbname=txn user=$user password=$pgb->{users}{$user}" ],
			'<', \(join("\n", @lines) . "\n"), '>', \$o, '2>', \$e;
		diag($e) if $e ne '';
		return [ split /\n/, $o ];
	};
	$pgb = ag_pgbouncer_restart($pgb);
	$node->safe_psql('postgres', q{
		INSERT INTO invoices VALUES (301, 1, 'open'), (302, 2, 'open'), (303, 3, 'open')});
	my $req_before = $node->safe_psql('postgres', 'SELECT agent_guard._flush_requests(); SELECT coalesce(max(request_id), 0) FROM agent_guard.requests');
	$req_before =~ s/.*\n//s;

	# the human of the shared role prepares its statement (named Parse)
	my $r = $steps->('harness', 'Q SELECT pg_backend_pid()',
		'P upd UPDATE invoices SET status = $1 WHERE id = $2', 'E upd human-1|301');
	like($r->[1], qr/^OK/, 'a human\'s named Parse through the pooler') or diag(join("\n", @$r));
	is($r->[2], 'OK UPDATE 1', 'and its execution');
	my ($human_pid) = $r->[0] =~ /ROWS (\d+);/;

	# the agent, tagged per transaction: DEALLOCATE the human's, Parse its own
	$r = $steps->('harness', 'Q BEGIN', "Q SET LOCAL agent_guard.agent_id = 'claude-code'",
		'Q SELECT pg_backend_pid()', 'Q DEALLOCATE upd', 'Q ROLLBACK',
		'Q BEGIN', "Q SET LOCAL agent_guard.agent_id = 'claude-code'",
		'P upd2 UPDATE invoices SET status = $1 WHERE id <> $2', 'Q ROLLBACK',
		'Q BEGIN', "Q SET LOCAL agent_guard.agent_id = 'claude-code'",
		'P evil DELETE FROM invoices WHERE id = 302', 'Q COMMIT',
		# unnamed statements, as drivers send them, stay allowed
		'Q BEGIN', "Q SET LOCAL agent_guard.agent_id = 'claude-code'",
		"X UPDATE invoices SET status = 'agent' WHERE id = 303",
		'X SELECT agent_guard.current_agent()', 'Q COMMIT');
	is($r->[2], "ROWS $human_pid;", 'the agent is on the human\'s server process');
	like($r->[3], qr/^ERR YG004 DEALLOCATE refused/, 'a tagged transaction cannot DEALLOCATE the human\'s statement');
	like($r->[7], qr/^ERR YG004 named prepared statement \(Parse\) refused/, 'nor Parse a named statement of its own');
	like($r->[11], qr/^ERR YG004 named prepared statement/, 'not even one it would commit');
	is($r->[15], 'OK UPDATE 1', 'an unnamed Parse in a tagged transaction runs');
	is($r->[16], 'ROWS claude-code;', 'as the agent');

	# the human's next execution of its statement does what the human prepared
	$r = $steps->('harness', 'Q SELECT pg_backend_pid()', 'E upd human-2|301',
		'Q SELECT name || \': \' || statement FROM pg_prepared_statements ORDER BY name');
	is($r->[0], "ROWS $human_pid;", 'the human is back on that server process');
	is($r->[1], 'OK UPDATE 1', 'its prepared statement updates one row');
	is($r->[2], 'ROWS upd: UPDATE invoices SET status = $1 WHERE id = $2;', 'and is the human\'s, alone');
	is($node->safe_psql('postgres', q{SELECT string_agg(id || '=' || status, ',' ORDER BY id) FROM invoices WHERE id > 300}),
		'301=human-2,302=open,303=agent', 'the agent took over nothing and deleted nothing');
	$node->safe_psql('postgres', 'SELECT agent_guard._flush_requests()');
	is($node->safe_psql('postgres', qq{SELECT string_agg(agent_id || '/' || kind || '/' || statement, ',' ORDER BY request_id)
		FROM agent_guard.requests WHERE request_id > $req_before}),
		'claude-code/refused/DEALLOCATE upd,claude-code/refused/UPDATE invoices SET status = $1 WHERE id <> $2,claude-code/refused/DELETE FROM invoices WHERE id = 302',
		'the refusals are on record');
	# a registered agent role prepares what it likes: its server processes are its own
	$r = $steps->('bot', 'P mine SELECT count(*) FROM invoices', 'E mine');
	like($r->[0], qr/^OK/, 'a registered agent\'s named Parse is allowed');
}

ag_pgbouncer_stop($pgb);
$node->stop;
done_testing();
