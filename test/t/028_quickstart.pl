# The README's Quick start, and its Backup and restore and Uninstall
# recipes, run as written.  In 1.1 it did not on Debian:
# no grants, so the agent's first UPDATE failed; "psql -U coding_agent" met
# peer authentication; the operator role of the command-line examples had
# no recipe.  This test takes the code blocks of the "Quick start" section
# from README.md, so it breaks when the README drifts, and runs them in
# order against a cluster that, like Debian's, takes password logins over
# TCP from localhost:
#   - the install block: apt-get and make install are what the test suite
#     itself did before this test; its psql line runs as it is (as the
#     postgres OS user, which this test runs as), and "systemctl restart
#     postgresql" restarts this cluster;
#   - SQL blocks run in psql as the superuser, stopping at the first error;
#   - shell blocks run in bash -e, with PGPORT set to this cluster's port
#     and PATH holding the link make install made for agent-guard.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Temp qw(tempdir);
use IPC::Run;

my $readme = slurp_file('README.md');
my ($section) = $readme =~ /^## Quick start\n(.*?)^## /ms;
ok(defined $section, 'README.md has a Quick start section') or BAIL_OUT('no Quick start');
my @blocks;
while ($section =~ /^```(\w+)\n(.*?)^```$/msg)
{
	push @blocks, { lang => $1, code => $2 };
}
is_deeply([ map { $_->{lang} } @blocks ], [qw(sh sql sh sh)],
	'the Quick start is an install block, the SQL, the agent, the human on call');

my $node = PostgreSQL::Test::Cluster->new('quickstart');
$node->init;
$node->append_conf('postgresql.conf', qq{
listen_addresses = 'localhost'
password_encryption = 'scram-sha-256'
});
# as Debian's pg_hba.conf: the superuser over the socket, passwords over TCP
open(my $fh, '>', $node->data_dir . '/pg_hba.conf') or die $!;
print $fh "local all postgres trust\nlocal all all peer\n"
  . "host all all 127.0.0.1/32 scram-sha-256\nhost all all ::1/128 scram-sha-256\n";
close $fh;
$node->start;

my $bindir = `pg_config --bindir`;
chomp $bindir;
my ($root) = $bindir =~ m{^(.*)/usr/lib/postgresql/[^/]+/bin/?$};
my $pathdir = defined $root ? "$root/usr/bin" : $bindir;
my $dir = tempdir(CLEANUP => 1);

# run a shell block (or line) with this cluster's port; ($rc, $out, $err)
sub sh
{
	my ($code) = @_;
	my ($out, $err) = ('', '');
	local %ENV = (%ENV, PGPORT => $node->port, PATH => "$pathdir:$bindir:$ENV{PATH}",
		PGHOST => $node->host);
	delete $ENV{$_} for qw(PGDATABASE PGUSER PGOPTIONS PGPASSWORD);
	IPC::Run::run([ 'bash', '-e', '-c', "cd '$dir'\n$code" ], '<', \undef, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

# --- install, preload, restart ------------------------------------------
my @install = grep { /\S/ } split /\n/, $blocks[0]{code};
like($blocks[0]{code}, qr/^make && sudo make install$/m, 'the install block builds and installs');
for my $line (@install)
{
	if ($line =~ /^sudo apt-get install|^make && sudo make install$/)
	{
		note("done by the test suite: $line");
	}
	elsif ($line eq 'sudo systemctl restart postgresql')
	{
		$node->restart;
	}
	elsif ($line =~ s/^sudo -u postgres //)
	{
		my ($rc, $out, $err) = sh($line);
		is($rc, 0, "runs: $line") or diag($err);
	}
	else
	{
		fail("a line of the install block this test does not know: $line");
	}
}
is($node->safe_psql('postgres', 'SHOW shared_preload_libraries'), 'agent_guard', 'agent_guard is preloaded');

# --- the SQL, as the superuser ---------------------------------------------
my ($rc, $out, $err) = sh("psql -X -v ON_ERROR_STOP=1 -d postgres <<'EOSQL'\n$blocks[1]{code}EOSQL\n");
is($rc, 0, 'the SQL block runs') or diag($err);
is($node->safe_psql('app', q{SELECT string_agg(relation::text, ',') FROM agent_guard.protected}), 'customers',
	'customers is protected');

# --- the agent ---------------------------------------------------------------
($rc, $out, $err) = sh($blocks[2]{code});
is($rc, 0, 'the agent block runs') or diag($err);
like($out, qr/^UPDATE 1$/m, "the agent's UPDATE works (it has the grants, and password logins over TCP)");
like($err, qr/DELETE needs a human's approval: request 1\b/, 'its DELETE without WHERE waits for a human');
like($out, qr/refused: it waits for a human/, 'as the block says');
is($node->safe_psql('app', q{SELECT operation || ' ' || login_role || ' ' || run_id FROM agent_guard.events
	WHERE agent_id = 'coding_agent' AND operation = 'UPDATE'}), 'UPDATE coding_agent ticket-4711',
	'the write is on record, the agent\'s, in run ticket-4711');

# --- the human on call ---------------------------------------------------------
($rc, $out, $err) = sh($blocks[3]{code});
is($rc, 0, 'the on-call block runs, as role oncall with grant_operator and the table grants') or diag($err);
like($out, qr/^ticket-4711\s+coding_agent\s+coding_agent\s/m, 'agent-guard runs lists the run');
like($out, qr/^\s*1\s.*\scoding_agent\s+ticket-4711\s+approval\s+pending\s+DELETE FROM customers/m,
	'agent-guard requests --pending lists the request');
like($out, qr/^denied request 1$/m, 'agent-guard deny');
like($out, qr/^rolled back run ticket-4711: 1 undone, 0 in conflict/m, 'agent-guard rollback --apply');
like($out, qr/^ticket-4711\s.*\srolled back$/m, 'and the run is rolled back');
is($node->safe_psql('app', 'SELECT email FROM customers WHERE id = 42'), 'old@example.com', 'the row is as before the run');
like(slurp_file("$dir/ticket-4711.md"), qr/^# Postmortem: run ticket-4711$/m, 'the postmortem was written');
is($node->safe_psql('app', q{SELECT decided_by FROM agent_guard.requests WHERE request_id = 1}), 'oncall',
	'decided by the operator');

# the operator can do no more than that
($rc, $out, $err) = sh(q{PGHOST=localhost PGDATABASE=app PGUSER=oncall PGPASSWORD=oncall-secret psql -c "SELECT agent_guard.protect('customers', false)"});
isnt($rc, 0, 'an operator cannot change what is protected');
($rc, $out, $err) = sh(q{PGHOST=localhost PGDATABASE=app PGUSER=oncall PGPASSWORD=oncall-secret psql -c "SELECT agent_guard.register_agent('oncall')"});
isnt($rc, 0, 'nor who is an agent');
($rc, $out, $err) = sh(q{psql -X -d app -c "SELECT agent_guard.grant_operator('coding_agent')"});
like($err, qr/role coding_agent is registered as an agent/, 'an agent cannot be made an operator');
($rc, $out, $err) = sh(q{psql -X -d app -c "SELECT agent_guard.revoke_operator('oncall')"});
is($rc, 0, 'revoke_operator') or diag($err);
($rc, $out, $err) = sh(q{PGHOST=localhost PGDATABASE=app PGUSER=oncall PGPASSWORD=oncall-secret agent-guard runs});
like($err, qr/permission denied/, 'takes it back');
is($node->safe_psql('app', q{SELECT string_agg(detail->>'granted', ',' ORDER BY event_id) FROM agent_guard.events WHERE operation = 'OPERATOR'}),
	'true,false', 'both on record');

# --- Backup and restore, as the postgres OS user ---------------------------
sub section_blocks
{
	my ($title) = @_;
	my ($text) = $readme =~ /^## \Q$title\E\n(.*?)^## /ms;
	my @b;
	while (($text // '') =~ /^```(\w+)\n(.*?)^```$/msg) { push @b, { lang => $1, code => $2 }; }
	return @b;
}
my @backup = section_blocks('Backup and restore');
is(scalar @backup, 1, 'Backup and restore has one block');
($rc, $out, $err) = sh($backup[0]{code});
is($rc, 0, 'the backup and restore block runs') or diag($err);
like($out, qr/^t\|/m, 'the restored log verifies against the head taken before the dump');
is($node->safe_psql('app_restored', q{SELECT count(*) FROM agent_guard.events WHERE run_id = 'ticket-4711'}),
	$node->safe_psql('app', q{SELECT count(*) FROM agent_guard.events WHERE run_id = 'ticket-4711'}),
	'with the run\'s events');

# --- Uninstall ------------------------------------------------------------
my @uninstall = section_blocks('Uninstall');
is_deeply([ map { $_->{lang} } @uninstall ], ['sql'], 'Uninstall has one SQL block');
$node->safe_psql('app', q{INSERT INTO customers VALUES (50, 'gone@example.com')});
($rc, $out, $err) = sh("PGOPTIONS='-c agent_guard.run_id=un' PGPASSWORD=agent-secret psql -X -h localhost -U coding_agent -d app -c 'DELETE FROM customers WHERE id = 50'");
is($rc, 0, 'an agent soft-deletes a row before the uninstall') or diag($err);
($rc, $out, $err) = sh("psql -X -v ON_ERROR_STOP=1 -d app <<'EOSQL'\n$uninstall[0]{code}EOSQL\n");
is($rc, 0, 'the uninstall block runs') or diag($err);
is($node->safe_psql('app', q{SELECT count(*) FROM pg_extension WHERE extname = 'agent_guard'}), '0', 'the extension is gone');
is($node->safe_psql('app', q{SELECT count(*) FROM pg_namespace WHERE nspname = 'agent_guard'}), '0', 'with its schema');
is($node->safe_psql('app', q{SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'zz_agent_guard%'}), '0', 'no trigger left');
is($node->safe_psql('app', q{SELECT count(*) FROM pg_policy WHERE polname LIKE 'ag\_%'}), '0', 'no policy left');
is($node->safe_psql('app', q{SELECT string_agg(id::text, ',' ORDER BY id) FROM customers}), '42,43',
	'the soft-deleted row was purged, the others kept');
is($node->safe_psql('app', q{SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'agent_guard%'}), '0',
	'no event trigger left');

$node->stop;
done_testing();
