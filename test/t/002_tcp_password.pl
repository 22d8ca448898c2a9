# Agents connect the way users deploy them: over TCP with password
# (SCRAM) authentication, through libpq clients, tagged by the harness with
# PGOPTIONS or registered by role.  Their writes are attributed, humans'
# writes are not, and it all survives a restart.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('tcp');
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
	INSERT INTO invoices VALUES (1, 100, 'open'), (2, 200, 'open');
	GRANT SELECT, INSERT, UPDATE, DELETE ON invoices TO bot, harness, dba;
	SELECT agent_guard.protect('invoices');
	SELECT agent_guard.register_agent('bot', 'billing-agent');
});

# only password authentication over TCP from now on
my $hba = $node->data_dir . '/pg_hba.conf';
open(my $fh, '>', $hba) or die $!;
print $fh "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n";
close $fh;
$node->reload;

# run psql over TCP as $user with $password and extra environment; $sql
# is one statement or a list of them, each sent on its own
sub tcp_psql
{
	my ($user, $password, $sql, %env) = @_;
	my ($out, $err) = ('', '');
	local %ENV = (%ENV, PGPASSWORD => $password, PGHOST => '127.0.0.1', PGPORT => $node->port, %env);
	delete $ENV{PGHOSTADDR};
	my @cmds = map { ('-c', $_) } (ref $sql ? @$sql : ($sql));
	my $ok = IPC::Run::run [ 'psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
		'-U', $user, '-d', 'postgres', @cmds ], '>', \$out, '2>', \$err;
	chomp $out;
	return ($ok ? 0 : 1, $out, $err);
}

my ($rc, $out, $err) = tcp_psql('bot', 'wrong', 'SELECT 1');
isnt($rc, 0, 'a wrong password is refused');
like($err, qr/password authentication failed/, 'by SCRAM over TCP');

($rc, $out, $err) = tcp_psql('bot', 'bot-secret',
	"SELECT inet_client_addr() IS NOT NULL, agent_guard.current_agent()");
is($out, 't|billing-agent', 'a registered role over TCP is its agent') or diag($err);

($rc, $out, $err) = tcp_psql('bot', 'bot-secret',
	"UPDATE invoices SET status = 'paid' WHERE id = 1",
	PGOPTIONS => '-c agent_guard.run_id=tcp-run-1');
is($rc, 0, 'the agent writes over TCP') or diag($err);

($rc, $out, $err) = tcp_psql('harness', 'harness-secret',
	"INSERT INTO invoices VALUES (3, 300, 'open')",
	PGOPTIONS => '-c agent_guard.agent_id=claude-code -c agent_guard.run_id=tcp-run-2');
is($rc, 0, 'a harness-tagged session writes over TCP') or diag($err);

($rc, $out, $err) = tcp_psql('harness', 'harness-secret',
	[ 'RESET agent_guard.agent_id', 'DISCARD ALL', 'SELECT agent_guard.current_agent()' ],
	PGOPTIONS => '-c agent_guard.agent_id=claude-code');
is($out, 'claude-code', 'the tag cannot be shed over TCP either') or diag($err);

($rc, $out, $err) = tcp_psql('dba', 'dba-secret', "UPDATE invoices SET amount = 201 WHERE id = 2");
is($rc, 0, 'a human writes over TCP') or diag($err);

is($node->safe_psql('postgres',
		"SELECT string_agg(format('%s/%s/%s/%s/%s', agent_id, run_id, login_role, operation, row_key->>'id'), ',' ORDER BY event_id)
		   FROM agent_guard.events WHERE relation = 'public.invoices' AND operation IN ('INSERT','UPDATE','DELETE')"),
	'billing-agent/tcp-run-1/bot/UPDATE/1,claude-code/tcp-run-2/harness/INSERT/3',
	'agent writes are attributed, the human write is not logged');
is($node->safe_psql('postgres', "SELECT string_agg(coalesce(ag_agent_id, '-'), ',' ORDER BY id) FROM invoices"),
	'billing-agent,-,claude-code', 'stamps show who wrote each row last');

# a restart keeps the registry, the protection and the log
$node->restart;
($rc, $out, $err) = tcp_psql('bot', 'bot-secret',
	"DELETE FROM invoices WHERE id = 3 RETURNING agent_guard.current_agent()");
is($out, 'billing-agent', 'after a restart the role is still an agent') or diag($err);
is($node->safe_psql('postgres',
		"SELECT string_agg(operation, ',' ORDER BY event_id) FROM agent_guard.events
		  WHERE relation = 'public.invoices' AND operation IN ('INSERT','UPDATE','DELETE','SOFT_DELETE')"),
	'UPDATE,INSERT,SOFT_DELETE', 'the log survived the restart and grew by the new (soft) delete');
is($node->safe_psql('postgres', "SELECT ag_deleted_at IS NOT NULL FROM invoices WHERE id = 3"),
	't', 'the deleted invoice is still there for the superuser, marked');

$node->stop;
done_testing();
