# The gaps of the sealer are ranges.
#
# An event id that never becomes a committed event (its write aborted or
# was refused) is a gap of agent_guard.chain_state until the sealer proves
# it never will be one; while a transaction stays open it cannot.  The gaps
# used to be a list of ids, one element per lost id, rewritten with every
# batch: an agent's many aborted writes grew it without bound (red team 16,
# finding 4).  They are an int8multirange now: a run of lost ids is one
# range, however long.
#
# Here an agent makes 10,000 aborted writes in 5 runs while a human's
# transaction stays open; then:
#   - the gaps are at most a few ranges (not 10,000 ids) and hold every
#     lost id, and the log verifies;
#   - once the open transaction ends, the sealer proves them gone;
#   - an event deleted from the log is still found and located by
#     verify_log (its seal names it), also when its id is added to the
#     gaps; an edited event too; a recorded gap is no failure.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use AgentGuardTest;

my $node = PostgreSQL::Test::Cluster->new('seal_gaps');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'\n"
	  . "agent_guard.seal_interval = 20\n"
	  . "agent_guard.max_rows_per_statement = -1\nagent_guard.max_rows_per_run = -1\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE gp_bot LOGIN;
	CREATE TABLE items (id int PRIMARY KEY, v text);
	ALTER TABLE items OWNER TO gp_bot;
	SELECT agent_guard.protect('items');
	SELECT agent_guard.register_agent('gp_bot');
});
ok(defined ag_wait_sealed($node, 'postgres'), 'the setup is sealed');

# a transaction left open: no gap can be proven gone while it runs
my $holder = $node->background_psql('postgres');
$holder->query_safe('BEGIN; SELECT pg_current_xact_id()');

my $first_lost = $node->safe_psql('postgres',
	"SELECT pg_sequence_last_value('agent_guard.events_event_id_seq') + 1");
for my $round (1 .. 5)
{
	# 2,000 writes, each rolled back, then one that commits
	my ($rc, $out, $err) = ag_agent_psql($node, 'postgres', 'gp_bot', "run-$round", qq{
		DO \$\$
		BEGIN
			FOR i IN 1 .. 2000 LOOP
				BEGIN
					INSERT INTO items VALUES ($round * 100000 + i, 'lost');
					RAISE EXCEPTION 'abort';
				EXCEPTION WHEN raise_exception THEN NULL;
				END;
			END LOOP;
		END \$\$;
		INSERT INTO items VALUES ($round, 'kept');
	});
	is($rc, 0, "round $round: 2,000 aborted writes and one kept") or diag($err);
	ok(defined ag_wait_sealed($node, 'postgres'), 'the kept one is sealed');
}
is($node->safe_psql('postgres', 'SELECT count(*) FROM items'), '5', 'only the kept rows exist');
is($node->safe_psql('postgres', "SELECT count(*) FROM agent_guard.events WHERE new_row->>'v' = 'lost'"),
	'0', 'no event of an aborted write');

my $last_lost = $node->safe_psql('postgres', "SELECT max(event_id) FROM agent_guard.events");
my $gaps = $node->safe_psql('postgres', qq{
	SELECT concat_ws('|',
	  (SELECT count(*) FROM agent_guard.chain_state c, unnest(c.gaps) r),
	  (SELECT sum(upper(r) - lower(r)) >= 10000 FROM agent_guard.chain_state c, unnest(c.gaps) r),
	  (SELECT count(*) FROM generate_series(${first_lost}::bigint, ${last_lost}::bigint) g
	    WHERE NOT EXISTS (SELECT FROM agent_guard.events e WHERE e.event_id = g)
	      AND NOT (SELECT c.gaps @> g FROM agent_guard.chain_state c)),
	  (SELECT pg_column_size(c.gaps) < 1000 FROM agent_guard.chain_state c))});
my ($ranges, $holds, $missed, $small) = split /\|/, $gaps;
cmp_ok($ranges, '<=', 5, "10,000 lost ids are $ranges ranges of gaps, one per run");
is($holds, 't', 'which hold at least 10,000 ids');
is($missed, '0', 'every lost id since the first is a gap');
is($small, 't', 'in under 1,000 bytes');
is($node->safe_psql('postgres', 'SELECT ok FROM agent_guard.verify_log()'), 't',
	'the log verifies with the gaps recorded');

# a sealed event deleted (a superuser, triggers off) is found and located
my $victim = $node->safe_psql('postgres', "SELECT event_id FROM agent_guard.events WHERE new_row->>'v' = 'kept' AND (new_row->>'id')::int = 3");
my $restore = $node->safe_psql('postgres', "SELECT to_jsonb(e) FROM agent_guard.events e WHERE event_id = $victim");
$node->safe_psql('postgres', qq{
	SET session_replication_role = replica;
	DELETE FROM agent_guard.events WHERE event_id = $victim});
like($node->safe_psql('postgres', 'SELECT ok, first_bad_event, detail FROM agent_guard.verify_log()'),
	qr/^f\|$victim\|event $victim \(seal position \d+\) is missing from the log/,
	'a deleted event among the gaps is found and located');
# ... also when its id is passed off as a gap
$node->safe_psql('postgres', qq{
	UPDATE agent_guard.chain_state SET gaps = gaps + int8multirange(int8range($victim, $victim, '[]'))});
like($node->safe_psql('postgres', 'SELECT ok, first_bad_event FROM agent_guard.verify_log()'),
	qr/^f\|$victim$/, 'and when its id is added to the gaps');
$node->safe_psql('postgres', qq{
	SELECT agent_guard.seal_log();
	UPDATE agent_guard.chain_state SET gaps = gaps - int8multirange(int8range($victim, $victim, '[]'));
	SET session_replication_role = replica;
	INSERT INTO agent_guard.events OVERRIDING SYSTEM VALUE
	SELECT * FROM jsonb_populate_record(NULL::agent_guard.events, \$j\$$restore\$j\$)});
is($node->safe_psql('postgres', 'SELECT ok FROM agent_guard.verify_log()'), 't', 'put back, the log verifies');

# an edited event next to the gaps
$node->safe_psql('postgres', qq{
	SET session_replication_role = replica;
	UPDATE agent_guard.events SET new_row = jsonb_set(new_row, '{v}', '"edited"') WHERE event_id = $victim});
like($node->safe_psql('postgres', 'SELECT ok, first_bad_event, detail FROM agent_guard.verify_log()'),
	qr/^f\|$victim\|event $victim \(seal position \d+\) does not match its seal/, 'an edited event is located');
$node->safe_psql('postgres', qq{
	SET session_replication_role = replica;
	UPDATE agent_guard.events SET new_row = jsonb_set(new_row, '{v}', '"kept"') WHERE event_id = $victim});

# the head kept outside proves nothing was cut from the end
my $head = $node->safe_psql('postgres', 'SELECT agent_guard.log_head()');
is($node->safe_psql('postgres', "SELECT ok FROM agent_guard.verify_log('$head')"), 't',
	'the log verifies against the head kept outside');

# the open transaction ends: the sealer proves the lost ids gone
$holder->query_safe('COMMIT');
$holder->quit;
ok($node->poll_query_until('postgres',
	'SELECT isempty(gaps) FROM agent_guard.chain_state'),
	'with the open transaction ended, no gap is left');

$node->stop;
done_testing();
