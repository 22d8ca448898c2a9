# Helpers shared by the TAP tests in test/t (test/suites.sh puts this
# directory on prove's include path).
package AgentGuardTest;

use strict;
use warnings;
use Exporter 'import';
use Time::HiRes qw(usleep time);

our @EXPORT = qw(ag_agent_psql ag_wait_sealed);

# Run SQL as an agent role with a run id: ($rc, $stdout, $stderr).
# ON_ERROR_STOP is set, so a script stops at its first error.
sub ag_agent_psql
{
	my ($node, $db, $role, $run, $sql) = @_;
	return $node->psql($db, $sql,
		extra_params => [ '-v', 'ON_ERROR_STOP=1' ],
		connstr => $node->connstr($db) . " user=$role options='-c agent_guard.run_id=$run'");
}

# Wait until every committed event of $db is sealed.  Returns the seconds
# waited as a string that is true even when nothing had to wait ("0.000"),
# or undef after $timeout seconds (default 10).
sub ag_wait_sealed
{
	my ($node, $db, $timeout) = @_;
	my $start = time;
	$timeout //= 10;
	while (time - $start < $timeout)
	{
		return sprintf('%.3f', time - $start)
		  if $node->safe_psql($db // 'postgres',
			'SELECT count(*) FROM agent_guard.events WHERE seal_seq IS NULL') eq '0';
		usleep(20_000);
	}
	return undef;
}

1;
