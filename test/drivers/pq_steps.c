/*
 * pq_steps: run protocol-level steps on one libpq connection, for TAP tests
 * that need what psql cannot send (a named Parse message).
 *
 *   pq_steps "conninfo" < steps
 *
 * One step a line:
 *   Q <sql>              simple query (PQexec)
 *   P <name> <sql>       Parse of a named statement (PQprepare)
 *   E <name> [v1|v2...]  Bind and Execute of a named statement (PQexecPrepared)
 *   X <sql>              unnamed Parse, Bind and Execute (PQexecParams)
 * Prints one line per step: "OK <command status>", "ROWS <v>,<v>;..." or
 * "ERR <SQLSTATE> <message>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

static void
show(PGresult *r)
{
	ExecStatusType s = PQresultStatus(r);

	if (s == PGRES_TUPLES_OK)
	{
		int			i,
					j;

		printf("ROWS ");
		for (i = 0; i < PQntuples(r); i++)
			for (j = 0; j < PQnfields(r); j++)
				printf("%s%s%s", PQgetisnull(r, i, j) ? "NULL" : PQgetvalue(r, i, j),
					   j + 1 < PQnfields(r) ? "," : "", j + 1 == PQnfields(r) ? ";" : "");
		printf("\n");
	}
	else if (s == PGRES_COMMAND_OK)
		printf("OK %s\n", PQcmdStatus(r));
	else
	{
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

		printf("ERR %s %s\n", state ? state : "?", msg ? msg : PQresultErrorMessage(r));
	}
}

static void
quiet(void *arg, const char *message)
{
}

int
main(int argc, char **argv)
{
	PGconn	   *conn;
	char		line[65536];

	if (argc != 2)
	{
		fprintf(stderr, "usage: pq_steps conninfo < steps\n");
		return 2;
	}
	conn = PQconnectdb(argv[1]);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "connection failed: %s", PQerrorMessage(conn));
		return 1;
	}
	PQsetNoticeProcessor(conn, quiet, NULL);
	while (fgets(line, sizeof line, stdin))
	{
		PGresult   *r = NULL;
		char	   *name;
		char	   *rest;

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0' || line[1] != ' ')
			continue;
		name = line + 2;
		rest = strchr(name, ' ');
		switch (line[0])
		{
			case 'Q':
				r = PQexec(conn, line + 2);
				break;
			case 'X':
				r = PQexecParams(conn, line + 2, 0, NULL, NULL, NULL, NULL, 0);
				break;
			case 'P':
				if (rest == NULL)
					continue;
				*rest++ = '\0';
				r = PQprepare(conn, name, rest, 0, NULL);
				break;
			case 'E':
				{
					const char *values[16];
					int			n = 0;

					if (rest != NULL)
					{
						char	   *v;

						*rest++ = '\0';
						for (v = strtok(rest, "|"); v != NULL && n < 16; v = strtok(NULL, "|"))
							values[n++] = v;
					}
					r = PQexecPrepared(conn, name, n, values, NULL, NULL, 0);
					break;
				}
			default:
				continue;
		}
		show(r);
		PQclear(r);
	}
	PQfinish(conn);
	return 0;
}
