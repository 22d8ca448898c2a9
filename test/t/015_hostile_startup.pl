# Hostile connection options.  Values in the startup packet (PGOPTIONS)
# reach the server without client-encoding conversion or validation: a run
# id, agent id or idempotency key that is not valid UTF-8 used to be stored
# in the log as it came and stop the sealer for good (it cannot hash it).
# Such a connection is now refused with a clear error, as are too long and
# control-character values, and the log keeps sealing and verifying.  A
# SQL_ASCII database, where any byte is stored as it comes, is refused at
# CREATE EXTENSION.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('startup');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'agent_guard'\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION agent_guard;
	CREATE ROLE st_bot LOGIN;
	CREATE TABLE items (id int PRIMARY KEY, v text);
	ALTER TABLE items OWNER TO st_bot;
	SELECT agent_guard.protect('items');
	SELECT agent_guard.register_agent('st_bot');
});

sub try_options
{
	my ($options) = @_;
	return $node->psql('postgres', "INSERT INTO items VALUES ((SELECT count(*) + 1 FROM items), 'x')",
		connstr => $node->connstr('postgres') . " user=st_bot options='$options'");
}

for my $case (
	[ 'agent_guard.run_id',          "r\xe9x",        qr/A run id must be valid in the database encoding \(UTF8\)/ ],
	[ 'agent_guard.agent_id',        "a\xff\xfe",     qr/An agent id must be valid in the database encoding \(UTF8\)/ ],
	[ 'agent_guard.idempotency_key', "k\xc3",         qr/An idempotency key must be valid in the database encoding \(UTF8\)/ ],
	[ 'agent_guard.run_id',          'r' x 5000,      qr/A run id may be at most 200 bytes long/ ],
	[ 'agent_guard.run_id',          "r\\\x01",       qr/A run id may not contain control characters/ ])
{
	my ($guc, $value, $why) = @$case;
	my ($rc, $out, $err) = try_options("-c $guc=$value");
	isnt($rc, 0, "a connection with a bad $guc is refused (" . length($value) . ' bytes)');
	like($err, qr/FATAL:  invalid value for parameter "\Q$guc\E"/, 'naming the setting');
	like($err, $why, 'and saying why');
}

# valid UTF-8 from the startup packet is stored verbatim
my ($rc, $out, $err) = try_options("-c agent_guard.run_id=caf\xc3\xa9-\xe2\x80\xae");
is($rc, 0, 'a UTF-8 run id in the startup packet is accepted') or diag($err);
is($node->safe_psql('postgres', "SELECT encode(convert_to(run_id, 'UTF8'), 'hex') FROM agent_guard.events WHERE operation = 'INSERT'"),
	'636166c3a92de280ae', 'and stored verbatim');
is($node->safe_psql('postgres', 'SELECT agent_guard.seal_log() >= 0'), 't', 'the log seals');
like($node->safe_psql('postgres', "SELECT ok || '|' || detail FROM agent_guard.verify_log()"), qr/^true\|/,
	'and verifies');

# A SQL_ASCII database would store bytes that are text in no encoding,
# which no seal can be computed over: the extension refuses to go there.
$node->safe_psql('postgres',
	"CREATE DATABASE bytes ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
($rc, $out, $err) = $node->psql('bytes', 'CREATE EXTENSION agent_guard');
isnt($rc, 0, 'CREATE EXTENSION in a SQL_ASCII database fails');
like($err, qr/agent_guard cannot be installed in a database with encoding SQL_ASCII/, 'saying why');
like($err, qr/HINT:  Create the database with an encoding such as UTF8/, 'and what to do');
is($node->safe_psql('bytes', "SELECT count(*) FROM pg_namespace WHERE nspname = 'agent_guard'"),
	'0', 'leaving nothing behind');

$node->stop;
done_testing();
