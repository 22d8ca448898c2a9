# A real PgBouncer in front of a test cluster, for the TAP tests in test/t.
# The cluster must listen on 127.0.0.1 with password (SCRAM) authentication;
# PgBouncer listens on another local port, authenticates its clients with
# SCRAM against a userlist of plain-text passwords and logs in to the
# server with the same passwords.  Each [databases] entry names a pool:
#   ag_pgbouncer_start($node, { users => { bot => 'secret', ... },
#       pools => { txn => 'transaction', sess => 'session' } })
# returns a handle; ag_pgbouncer_psql($pgb, $pool, $user, $sql, %env) runs
# psql through it: ($rc, $stdout, $stderr).  Each pool has one server
# connection, so the clients of a pool take turns on one server process,
# as many clients do behind a busy pooler.
package AgentGuardPooler;

use strict;
use warnings;
use Exporter 'import';
use IO::Socket::INET;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Time::HiRes qw(usleep time);

our @EXPORT = qw(ag_pgbouncer_start ag_pgbouncer_psql ag_pgbouncer_stop ag_pgbouncer_restart ag_pgbouncer_binary);

sub ag_pgbouncer_binary
{
	for my $dir (split(/:/, $ENV{PATH} // ''), '/usr/sbin', '/usr/bin')
	{
		return "$dir/pgbouncer" if -x "$dir/pgbouncer";
	}
	return undef;
}

sub ag_pgbouncer_start
{
	my ($node, $opts) = @_;
	my $bin = ag_pgbouncer_binary()
	  or die "pgbouncer not found: install the Debian package pgbouncer (test/check.sh does, as root)";
	my $dir = PostgreSQL::Test::Utils::tempdir('pgbouncer');
	my $port = PostgreSQL::Test::Cluster::get_free_port();
	my $users = $opts->{users};
	my $pools = $opts->{pools};

	open(my $ul, '>', "$dir/userlist.txt") or die $!;
	print $ul qq{"$_" "$users->{$_}"\n} for sort keys %$users;
	close $ul;

	my $dbs = '';
	for my $pool (sort keys %$pools)
	{
		$dbs .= sprintf("%s = host=127.0.0.1 port=%d dbname=%s pool_mode=%s pool_size=1\n",
			$pool, $node->port, $opts->{dbname} // 'postgres', $pools->{$pool});
	}
	open(my $ini, '>', "$dir/pgbouncer.ini") or die $!;
	print $ini <<"INI";
[databases]
$dbs
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
max_client_conn = 100
default_pool_size = 1
server_reset_query = DISCARD ALL
ignore_startup_parameters = extra_float_digits
INI
	print $ini ($opts->{extra} // '');
	close $ini;

	my $h = IPC::Run::start([ $bin, "$dir/pgbouncer.ini" ],
		'>', "$dir/stdout.log", '2>', "$dir/stderr.log");
	my $start = time;
	while (time - $start < 30)
	{
		last if IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp');
		usleep(50_000);
	}
	return { handle => $h, port => $port, dir => $dir, users => $users, node => $node, opts => $opts };
}

# Stop it and start a new one (fresh server connections, new settings).
sub ag_pgbouncer_restart
{
	my ($pgb) = @_;
	ag_pgbouncer_stop($pgb);
	return ag_pgbouncer_start($pgb->{node}, $pgb->{opts});
}

sub ag_pgbouncer_psql
{
	my ($pgb, $pool, $user, $sql, %env) = @_;
	my ($out, $err) = ('', '');
	local %ENV = (%ENV, PGPASSWORD => $pgb->{users}{$user}, PGHOST => '127.0.0.1',
		PGPORT => $pgb->{port}, %env);
	delete $ENV{PGHOSTADDR};
	my @cmds = map { ('-c', $_) } (ref $sql ? @$sql : ($sql));
	my $ok = IPC::Run::run [ 'psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
		'-U', $user, '-d', $pool, @cmds ], '>', \$out, '2>', \$err;
	chomp $out;
	return ($ok ? 0 : 1, $out, $err);
}

sub ag_pgbouncer_stop
{
	my ($pgb) = @_;
	return unless $pgb && $pgb->{handle};
	$pgb->{handle}->signal('INT');
	$pgb->{handle}->finish;
	$pgb->{handle} = undef;
}

1;
