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
# The events not sealed: since 1.2 those above chain_state.sealed_through
# or in its gaps (the seals are in agent_guard.seals), before it those
# without seal_seq.
my $unsealed_sql = q{
	SELECT count(*) FROM agent_guard.events e, agent_guard.chain_state c
	 WHERE e.seal_seq IS NULL
	   AND (NOT to_jsonb(c) ? 'sealed_through'
	        OR e.event_id > (to_jsonb(c)->>'sealed_through')::bigint
	        OR (to_jsonb(c)->>'gaps')::int8multirange @> e.event_id)};

sub ag_wait_sealed
{
	my ($node, $db, $timeout) = @_;
	my $start = time;
	$timeout //= 10;
	while (time - $start < $timeout)
	{
		return sprintf('%.3f', time - $start)
		  if $node->safe_psql($db // 'postgres',
			$unsealed_sql) eq '0';
		usleep(20_000);
	}
	return undef;
}

1;
