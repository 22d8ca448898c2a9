/*
 * agent-guard: the command line for the human on call.
 *
 * A libpq client over the extension's SQL API: list and inspect agent runs,
 * write a postmortem, roll a run back, handle approval requests, freeze
 * agents, verify the event log, watch guard notifications live, and run any
 * libpq program tagged as an agent.  It connects the way every libpq tool
 * does (-d conninfo, -h, -p, -U, the PG* environment, .pgpass, sslmode in
 * the conninfo) and sends every value as a query parameter, never pasted
 * into SQL.
 *
 * Exit status: 0 ok; 1 the server refused or reported a failure (an error,
 * a log that does not verify, a rollback conflict); 2 bad usage; 3 could not
 * connect (or the connection was lost).  "exec" exits with the status of the
 * program it runs.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#ifndef AG_VERSION
#define AG_VERSION "1.1"
#endif

#define EXIT_OK       0
#define EXIT_REFUSED  1
#define EXIT_USAGE    2
#define EXIT_CONNECT  3

/* type oids of the columns we right-align or treat specially */
#define INT8OID     20
#define INT2OID     21
#define INT4OID     23
#define OIDOID      26
#define FLOAT4OID   700
#define FLOAT8OID   701
#define NUMERICOID  1700
#define VOIDOID     2278

static const char *progname = "agent-guard";

/* ---------------------------------------------------------------------
 * Options
 * ---------------------------------------------------------------------
 */
typedef enum
{
	O_DBNAME, O_HOST, O_PORT, O_USER, O_JSON, O_HELP, O_VERSION,
	O_APPLY, O_ON_CONFLICT, O_NOTE, O_AGENT, O_RUN, O_COUNT, O_HEAD,
	O_PENDING, O_LIMIT, O_STATEMENT_FILE,
	O_NUM
} OptId;

typedef struct
{
	const char *name;
	char		shortname;
	bool		has_arg;
} OptSpec;

static const OptSpec opt_specs[O_NUM] = {
	[O_DBNAME] = {"dbname", 'd', true},
	[O_HOST] = {"host", 'h', true},
	[O_PORT] = {"port", 'p', true},
	[O_USER] = {"username", 'U', true},
	[O_JSON] = {"json", 0, false},
	[O_HELP] = {"help", '?', false},
	[O_VERSION] = {"version", 'V', false},
	[O_APPLY] = {"apply", 0, false},
	[O_ON_CONFLICT] = {"on-conflict", 0, true},
	[O_NOTE] = {"note", 0, true},
	[O_AGENT] = {"agent", 0, true},
	[O_RUN] = {"run", 0, true},
	[O_COUNT] = {"count", 0, true},
	[O_HEAD] = {"head", 0, true},
	[O_PENDING] = {"pending", 0, false},
	[O_LIMIT] = {"limit", 0, true},
	[O_STATEMENT_FILE] = {"statement-file", 0, true},
};

static bool opt_seen[O_NUM];
static const char *opt_val[O_NUM];

#define MAX_ARGS 64

typedef struct Command Command;
typedef int (*CommandFn) (const Command *cmd, int nargs, char **args);

struct Command
{
	const char *name;
	CommandFn	fn;
	unsigned	allowed;		/* bit set of OptIds beyond the common ones */
	int			min_args;
	int			max_args;
	const char *synopsis;
	const char *help;
};

#define BIT(o) (1u << (o))
#define COMMON_OPTS (BIT(O_DBNAME) | BIT(O_HOST) | BIT(O_PORT) | BIT(O_USER) | BIT(O_HELP))

static void usage_error(const char *fmt,...) __attribute__((format(printf, 1, 2)));
static void fail(int code, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static void
usage_error(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (try \"%s --help\")\n", progname);
	exit(EXIT_USAGE);
}

static void
fail(int code, const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

/*
 * Text an agent could have written (statements, reasons, ids, names, even
 * a server message quoting them), made safe for a terminal: control
 * characters (C0, DEL, C1) and the bidirectional overrides are shown as
 * \xHH or \uHHHH, so an escape sequence in a statement cannot erase or
 * redraw what the human on call reads.  How line breaks show depends on
 * where the text goes (PR_*).  A statement's line break is never shown as
 * a space: "-- a comment" ends at a newline or a carriage return, so code
 * after one would read as part of the comment (red team 17a, finding 2).
 * The result has room for an ellipsis after it (clip_to).
 */
#define PR_SPACES	0			/* a message on one line: breaks and tabs are spaces */
#define PR_LINES	1			/* a Markdown report, a DETAIL: newlines and tabs kept */
#define PR_ESCAPE	2			/* a table's cell: \n and \r shown as such */
#define PR_INDENT	3			/* a statement on lines of its own, indented; \r as \r */

static char *
printable(const char *s, int mode)
{
	size_t		len = strlen(s);
	char	   *out = malloc(len * 6 + 4);
	size_t		o = 0;

	if (out == NULL)
		fail(EXIT_REFUSED, "out of memory");
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];
		unsigned char c1 = i + 1 < len ? (unsigned char) s[i + 1] : 0;
		unsigned char c2 = i + 2 < len ? (unsigned char) s[i + 2] : 0;

		if ((c == '\n' || c == '\r') && (mode == PR_ESCAPE || (mode == PR_INDENT && c == '\r')))
			o += sprintf(out + o, "%s", c == '\n' ? "\\n" : "\\r");
		else if (c == '\n' && mode == PR_INDENT)
			o += sprintf(out + o, "\n    ");
		else if (c == '\n' || c == '\t' || c == '\r')
			out[o++] = ((mode == PR_LINES || mode == PR_INDENT) && c != '\r') ? (char) c : ' ';
		else if (c < 0x20 || c == 0x7f)
			o += sprintf(out + o, "\\x%02x", c);
		else if (c == 0xC2 && c1 >= 0x80 && c1 <= 0x9F)
		{
			o += sprintf(out + o, "\\u%04x", c1);
			i++;
		}
		else if (c == 0xE2 && ((c1 == 0x80 && c2 >= 0xAA && c2 <= 0xAE) ||
							   (c1 == 0x81 && c2 >= 0xA6 && c2 <= 0xA9)))
		{
			o += sprintf(out + o, "\\u%04x", 0x2000 + ((c1 & 0x3F) << 6) + (c2 & 0x3F));
			i += 2;
		}
		else
			out[o++] = (char) c;
	}
	out[o] = '\0';
	return out;
}

/* collapse a (possibly multi-line) libpq message into one printable line */
static char *
one_line(const char *msg)
{
	char	   *out = strdup(msg ? msg : "");
	char	   *w = out;
	char	   *safe;
	bool		space = false;

	if (out == NULL)
		fail(EXIT_REFUSED, "out of memory");
	for (const char *r = msg ? msg : ""; *r; r++)
	{
		if (isspace((unsigned char) *r))
			space = (w != out);
		else
		{
			if (space)
				*w++ = ' ';
			space = false;
			*w++ = *r;
		}
	}
	*w = '\0';
	safe = printable(out, PR_SPACES);
	free(out);
	return safe;
}

/*
 * A request as watch shows it: runs of spaces and tabs as one space, as
 * one_line() makes them, but a statement's line breaks kept (PR_INDENT).
 */
static char *
request_lines(const char *msg)
{
	char	   *out = strdup(msg ? msg : "");
	char	   *w = out;
	char	   *safe;
	bool		space = false;
	bool		line_start = false; /* after a newline: indentation kept */

	if (out == NULL)
		fail(EXIT_REFUSED, "out of memory");
	for (const char *r = msg ? msg : ""; *r; r++)
	{
		if ((*r == ' ' || *r == '\t') && line_start)
			*w++ = *r;
		else if (*r == ' ' || *r == '\t')
			space = (w != out);
		else
		{
			if (space)
				*w++ = ' ';
			space = false;
			*w++ = *r;
			line_start = (*r == '\n');
		}
	}
	*w = '\0';
	safe = printable(out, PR_INDENT);
	free(out);
	return safe;
}

/* ---------------------------------------------------------------------
 * Connection and queries
 * ---------------------------------------------------------------------
 */
static PGconn *conn;

static void
notice_processor(void *arg, const char *message)
{
	char	   *m = one_line(message);

	fprintf(stderr, "%s: %s\n", progname, m);
	free(m);
}

static void
quiet_notice_processor(void *arg, const char *message)
{
}

static void
finish_and_exit(int code)
{
	if (conn)
		PQfinish(conn);
	exit(code);
}

/*
 * Connect as psql would: the -d value may be a conninfo string or URI
 * (expand_dbname), anything not given comes from the PG* environment, and
 * libpq reads .pgpass itself.
 */
static void
connect_db(void)
{
	const char *keys[6];
	const char *vals[6];
	int			n = 0;
	PGresult   *res;

	keys[n] = "dbname";
	vals[n++] = opt_val[O_DBNAME];
	keys[n] = "host";
	vals[n++] = opt_val[O_HOST];
	keys[n] = "port";
	vals[n++] = opt_val[O_PORT];
	keys[n] = "user";
	vals[n++] = opt_val[O_USER];
	keys[n] = "fallback_application_name";
	vals[n++] = progname;
	keys[n] = NULL;
	vals[n] = NULL;

	conn = PQconnectdbParams(keys, vals, 1);
	if (conn == NULL)
		fail(EXIT_CONNECT, "could not connect: out of memory");
	if (PQstatus(conn) != CONNECTION_OK)
	{
		char	   *m = one_line(PQerrorMessage(conn));

		PQfinish(conn);
		conn = NULL;
		fail(EXIT_CONNECT, "could not connect: %s", m);
	}
	PQsetNoticeProcessor(conn, notice_processor, NULL);

	/*
	 * Our SQL runs under a search_path of the system catalogs only (red team
	 * 30, finding 13): the human's own would let an operator or function an
	 * agent created in a schema on it (public) answer our unqualified ones,
	 * text || integer, where pg_catalog has no exact match.  Set here rather
	 * than in the options keyword, which would override the user's own.
	 */
	res = PQexec(conn, "SELECT pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', false)");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		char	   *m = one_line(PQerrorMessage(conn));

		PQclear(res);
		PQfinish(conn);
		conn = NULL;
		fail(EXIT_CONNECT, "could not set the connection's search_path: %s", m);
	}
	PQclear(res);
}

/*
 * A command may replace the server's hint for one SQLSTATE with its own
 * (the server's speaks SQL; the human on call types agent-guard).
 */
static const char *hint_sqlstate = NULL;
static char hint_text[512];

/* print a server error: one line, then its detail and hint if any */
static void
report_error(PGresult *res)
{
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	const char *hint = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
	const char *sqlstate = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	char	   *m = one_line(primary ? primary : PQerrorMessage(conn));

	if (hint_sqlstate && sqlstate && strcmp(sqlstate, hint_sqlstate) == 0)
		hint = hint_text;

	fprintf(stderr, "%s: %s\n", progname, m);
	free(m);
	if (detail)
	{
		m = printable(detail, PR_LINES);
		fprintf(stderr, "DETAIL: %s\n", m);
		free(m);
	}
	if (hint)
	{
		m = printable(hint, PR_LINES);
		fprintf(stderr, "HINT: %s\n", m);
		free(m);
	}
}

/*
 * Run one statement with text parameters.  An error ends the program: 3 if
 * the connection is gone, 1 otherwise (the server refused).
 */
static PGresult *
query(const char *sql, int nparams, const char *const *params)
{
	PGresult   *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return res;
	if (PQstatus(conn) == CONNECTION_BAD)
	{
		char	   *m = one_line(PQerrorMessage(conn));

		fprintf(stderr, "%s: connection lost: %s\n", progname, m);
		free(m);
		PQclear(res);
		finish_and_exit(EXIT_CONNECT);
	}
	report_error(res);
	PQclear(res);
	finish_and_exit(EXIT_REFUSED);
	return NULL;				/* not reached */
}

static bool
query_bool(const char *sql, const char *param)
{
	const char *params[1] = {param};
	PGresult   *res = query(sql, param ? 1 : 0, params);
	bool		v = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;

	PQclear(res);
	return v;
}

/* every command but exec needs the extension in the database */
static void
require_extension(void)
{
	if (!query_bool("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'agent_guard')",
					NULL))
		fail(EXIT_REFUSED, "agent_guard is not installed in database \"%s\" (CREATE EXTENSION agent_guard)",
			 PQdb(conn));
}

/*
 * The approval gates arrive in a later build than the rest: say so in one
 * line rather than show "function does not exist".
 */
static void
require_function(const char *signature, const char *what)
{
	if (!query_bool("SELECT pg_catalog.to_regprocedure($1) IS NOT NULL", signature))
		fail(EXIT_REFUSED, "this server's agent_guard has no %s (%s): the approval gates are not in this build", signature, what);
}

static void
require_relation(const char *name, const char *what)
{
	if (!query_bool("SELECT pg_catalog.to_regclass($1) IS NOT NULL", name))
		fail(EXIT_REFUSED, "this server's agent_guard has no %s (%s): the approval gates are not in this build", name, what);
}

/* ---------------------------------------------------------------------
 * Output
 * ---------------------------------------------------------------------
 */
#define TTY_CELL_MAX 60

/* display width of UTF-8 text, counting code points */
static int
text_width(const char *s)
{
	int			w = 0;

	for (; *s; s++)
		if (((unsigned char) *s & 0xC0) != 0x80)
			w++;
	return w;
}

static void clip_to(char *t, int w);

/*
 * A cell as shown in a table: on one line (a line break shown as \n),
 * printable, and on a terminal clipped so a statement text does not wrap
 * the whole table.
 */
static char *
cell_text(const char *v, bool clip)
{
	char	   *out = printable(v, PR_ESCAPE);

	if (clip)
		clip_to(out, TTY_CELL_MAX);
	return out;
}

static bool
numeric_type(Oid t)
{
	return t == INT2OID || t == INT4OID || t == INT8OID || t == OIDOID ||
		t == FLOAT4OID || t == FLOAT8OID || t == NUMERICOID;
}

/* cut t (one line) to at most w display characters, an ellipsis last */
static void
clip_to(char *t, int w)
{
	int			seen = 0;

	if (text_width(t) <= w)
		return;
	for (char *p = t; *p; p++)
	{
		if (((unsigned char) *p & 0xC0) != 0x80)
		{
			if (seen == w - 1)
			{
				strcpy(p, "\xE2\x80\xA6");	/* room: an ellipsis replaces >= 1 char */
				return;
			}
			seen++;
		}
	}
}

static void print_table_fit(PGresult *res, bool footer, int maxwidth);

/* an aligned table, numbers to the right, then "(N rows)" */
static void
print_table(PGresult *res, bool footer)
{
	print_table_fit(res, footer, 0);
}

/*
 * The same, at most maxwidth columns wide (0: no limit): the widest text
 * columns give way first, and their cells end in an ellipsis.
 */
static void
print_table_fit(PGresult *res, bool footer, int maxwidth)
{
	int			ncols = PQnfields(res);
	int			nrows = PQntuples(res);
	bool		clip = isatty(STDOUT_FILENO);
	int		   *width = calloc(ncols > 0 ? ncols : 1, sizeof(int));
	char	  **cells = calloc((size_t) (nrows + 1) * (ncols > 0 ? ncols : 1), sizeof(char *));

	if (width == NULL || cells == NULL)
		fail(EXIT_REFUSED, "out of memory");
	for (int c = 0; c < ncols; c++)
	{
		cells[c] = cell_text(PQfname(res, c), false);
		width[c] = text_width(cells[c]);
	}
	for (int r = 0; r < nrows; r++)
		for (int c = 0; c < ncols; c++)
		{
			char	   *t = cell_text(PQgetisnull(res, r, c) ? "" : PQgetvalue(res, r, c), clip);

			cells[(r + 1) * ncols + c] = t;
			if (text_width(t) > width[c])
				width[c] = text_width(t);
		}
	if (maxwidth > 0)
	{
		int			total = 2 * (ncols - 1);

		for (int c = 0; c < ncols; c++)
			total += width[c];
		while (total > maxwidth)
		{
			int			widest = -1;

			for (int c = 0; c < ncols; c++)
				if (!numeric_type(PQftype(res, c)) && width[c] > 8 &&
					(widest < 0 || width[c] > width[widest]))
					widest = c;
			if (widest < 0)
				break;
			width[widest]--;
			total--;
		}
		for (int r = 0; r <= nrows; r++)
			for (int c = 0; c < ncols; c++)
				clip_to(cells[r * ncols + c], width[c]);
	}
	for (int r = 0; r <= nrows; r++)
	{
		for (int c = 0; c < ncols; c++)
		{
			const char *t = cells[r * ncols + c];
			int			pad = width[c] - text_width(t);
			bool		right = r > 0 && numeric_type(PQftype(res, c));
			bool		last = c == ncols - 1;

			if (right)
				printf("%*s%s", pad, "", t);
			else
				printf("%s%*s", t, last ? 0 : pad, "");
			if (!last)
				fputs("  ", stdout);
		}
		putchar('\n');
		if (r == 0)
		{
			for (int c = 0; c < ncols; c++)
			{
				for (int i = 0; i < width[c]; i++)
					putchar('-');
				if (c < ncols - 1)
					fputs("  ", stdout);
			}
			putchar('\n');
		}
	}
	if (footer)
		printf("(%d %s)\n", nrows, nrows == 1 ? "row" : "rows");
	for (int i = 0; i < (nrows + 1) * ncols; i++)
		free(cells[i]);
	free(cells);
	free(width);
}

/* one record shown vertically: "name: value" */
static void
print_record(PGresult *res, int row)
{
	int			w = 0;

	for (int c = 0; c < PQnfields(res); c++)
		if (text_width(PQfname(res, c)) > w)
			w = text_width(PQfname(res, c));
	for (int c = 0; c < PQnfields(res); c++)
	{
		char	   *t = cell_text(PQgetisnull(res, row, c) ? "" : PQgetvalue(res, row, c), false);

		printf("%-*s  %s\n", w + 1, PQfname(res, c), t);
		free(t);
	}
}

/* print the single value of a one-row, one-column result */
static void
print_value(PGresult *res)
{
	if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
	{
		char	   *v = printable(PQgetvalue(res, 0, 0), PR_LINES);
		size_t		len = strlen(v);

		fputs(v, stdout);
		if (len == 0 || v[len - 1] != '\n')
			putchar('\n');
		free(v);
	}
}

/*
 * --json: the server renders the rows with json_agg, so types, NULLs and
 * escaping come out right.  sql is one of our constant statements.
 */
static PGresult *
query_json_rows(const char *sql, int nparams, const char *const *params)
{
	char		buf[4096];

	snprintf(buf, sizeof(buf),
			 "SELECT coalesce(pg_catalog.json_agg(q), '[]'::json) FROM (%s) q", sql);
	return query(buf, nparams, params);
}

/* ---------------------------------------------------------------------
 * Argument checks
 * ---------------------------------------------------------------------
 */
static const char *
parse_id(const Command *cmd, const char *s)
{
	char	   *end;
	long long	v;

	if (s == NULL || *s == '\0')
		usage_error("%s: a request id is required", cmd->name);
	for (const char *p = s; *p; p++)
		if (!isdigit((unsigned char) *p))
			usage_error("%s: request id must be a positive integer, not \"%s\"", cmd->name, s);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || v <= 0)
		usage_error("%s: request id must be a positive integer, not \"%s\"", cmd->name, s);
	return s;
}

static long
parse_count(const char *s)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v <= 0 || end == s)
		usage_error("--count must be a positive integer, not \"%s\"", s);
	return v;
}

static char *
join_args(int nargs, char **args)
{
	size_t		len = 1;
	char	   *out;

	for (int i = 0; i < nargs; i++)
		len += strlen(args[i]) + 1;
	out = malloc(len);
	if (out == NULL)
		fail(EXIT_REFUSED, "out of memory");
	out[0] = '\0';
	for (int i = 0; i < nargs; i++)
	{
		if (i > 0)
			strcat(out, " ");
		strcat(out, args[i]);
	}
	return out;
}

/* ---------------------------------------------------------------------
 * Subcommands
 * ---------------------------------------------------------------------
 */
static const char *const runs_sql =
"SELECT run_id, agent_id, login_role,"
" pg_catalog.to_char(first_write, 'YYYY-MM-DD HH24:MI:SS') AS first_write,"
" pg_catalog.to_char(last_write, 'YYYY-MM-DD HH24:MI:SS') AS last_write,"
" transactions AS xacts, statements AS stmts, inserted AS ins, updated AS upd,"
" deleted AS del, soft_deleted AS soft_del, guard_events AS guards, status"
" FROM agent_guard.runs WHERE $1::text IS NULL OR agent_id = $1";

static const char *const runs_json_sql =
"SELECT * FROM agent_guard.runs WHERE $1::text IS NULL OR agent_id = $1";

static int
cmd_runs(const Command *cmd, int nargs, char **args)
{
	const char *params[1] = {opt_val[O_AGENT]};
	PGresult   *res;

	if (opt_seen[O_JSON])
	{
		res = query_json_rows(runs_json_sql, 1, params);
		print_value(res);
	}
	else
	{
		res = query(runs_sql, 1, params);
		if (PQntuples(res) == 0)
			printf("no agent runs on record\n");
		else
			print_table(res, true);
	}
	PQclear(res);
	return EXIT_OK;
}

/* the events of a run, and the compensations that undid them */
#define SHOW_EVENTS_WHERE \
	" FROM agent_guard.events e LEFT JOIN agent_guard.statements s ON s.statement_id = e.statement_id" \
	" WHERE e.run_id = $1 OR (e.run_id IS NULL AND e.detail->>'run_id' = $1)"

/*
 * Who made an event: the agent for its own acts (writes, refused attempts,
 * approved statements), else the human's login role (approvals, denials,
 * resets, rollbacks).
 */
#define SHOW_BY \
	" CASE WHEN e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SOFT_DELETE', 'BLOCKED', 'EXECUTED', 'DROP')" \
	" THEN e.agent_id ELSE 'human ' || e.login_role END AS by"

static const char *const show_events_sql =
"SELECT e.event_id, pg_catalog.to_char(e.at, 'HH24:MI:SS.MS') AS at, e.xid, e.operation,"
" e.relation, e.row_key," SHOW_BY ", s.query AS statement"
SHOW_EVENTS_WHERE " ORDER BY e.event_id LIMIT $2::bigint";

static const char *const show_counts_sql =
"SELECT e.operation, coalesce(e.relation, '') AS relation, count(*) AS events"
SHOW_EVENTS_WHERE " GROUP BY 1, 2 ORDER BY min(e.event_id)";

/* --limit: a count of events, or "all" (NULL: no limit) */
static const char *
parse_limit(const char *s)
{
	char	   *end;
	long		v;

	if (s == NULL)
		return "20";
	if (strcmp(s, "all") == 0)
		return NULL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0 || end == s)
		usage_error("--limit must be a number of events or \"all\", not \"%s\"", s);
	return s;
}

static const char *const show_json_sql =
"SELECT pg_catalog.json_build_object("
" 'runs', (SELECT coalesce(pg_catalog.json_agg(r), '[]'::json) FROM agent_guard.runs r WHERE r.run_id = $1),"
" 'events', (SELECT coalesce(pg_catalog.json_agg(x ORDER BY x.event_id), '[]'::json) FROM"
"   (SELECT e.event_id, e.at, e.xid, e.agent_id, e.run_id, e.login_role, e.acting_role, e.relation,"
"    e.operation, e.row_key, e.old_row, e.new_row, e.detail, c.seal_seq, s.query AS statement"
" FROM agent_guard.events e LEFT JOIN agent_guard.statements s ON s.statement_id = e.statement_id"
/* the position: in agent_guard.seals since 1.2, in the event before */
"   LEFT JOIN agent_guard.event_seals c ON c.event_id = e.event_id"
" WHERE e.run_id = $1 OR (e.run_id IS NULL AND e.detail->>'run_id' = $1)) x))";

static int
cmd_show(const Command *cmd, int nargs, char **args)
{
	const char *params[1] = {args[0]};
	PGresult   *res;

	if (!query_bool("SELECT EXISTS (SELECT 1 FROM agent_guard.events WHERE run_id = $1)", args[0]))
		fail(EXIT_REFUSED, "no run \"%s\" in the event log", args[0]);

	if (opt_seen[O_JSON])
	{
		res = query(show_json_sql, 1, params);
		print_value(res);
		PQclear(res);
		return EXIT_OK;
	}
	res = query("SELECT run_id, agent_id, login_role, first_write, last_write, transactions,"
				" statements, inserted, updated, deleted, soft_deleted, guard_events,"
				" client_addr, application_name, unsealed, status"
				" FROM agent_guard.runs WHERE run_id = $1", 1, params);
	for (int r = 0; r < PQntuples(res); r++)
	{
		print_record(res, r);
		putchar('\n');
	}
	PQclear(res);

	/* the summary: how many events of which kind, then the first ones */
	{
		const char *lparams[2] = {args[0], parse_limit(opt_val[O_LIMIT])};
		long		total = 0;
		int			shown;

		res = query(show_counts_sql, 1, params);
		for (int r = 0; r < PQntuples(res); r++)
			total += atol(PQgetvalue(res, r, 2));
		printf("%ld %s:\n", total, total == 1 ? "event" : "events");
		print_table(res, false);
		PQclear(res);

		if (lparams[1] != NULL && strcmp(lparams[1], "0") == 0)
			return EXIT_OK;
		res = query(show_events_sql, 2, lparams);
		shown = PQntuples(res);
		putchar('\n');
		print_table(res, false);
		if (shown < total)
			printf("(%d of %ld events; --limit N or --limit all for more)\n", shown, total);
		else
			printf("(%d %s)\n", shown, shown == 1 ? "event" : "events");
		PQclear(res);
	}
	return EXIT_OK;
}

static int
cmd_postmortem(const Command *cmd, int nargs, char **args)
{
	const char *params[1] = {args[0]};
	PGresult   *res;

	if (opt_seen[O_JSON])
		res = query("SELECT agent_guard.postmortem_json($1)", 1, params);
	else
		res = query("SELECT agent_guard.postmortem($1)", 1, params);
	print_value(res);
	PQclear(res);
	return EXIT_OK;
}

static const char *const rollback_sql =
"SELECT step, event_id, relation, operation, row_key, action, status, detail"
" FROM agent_guard.rollback_run($1, $2::boolean, $3)";

static int
cmd_rollback(const Command *cmd, int nargs, char **args)
{
	const char *on_conflict = opt_val[O_ON_CONFLICT] ? opt_val[O_ON_CONFLICT] : "abort";
	bool		apply = opt_seen[O_APPLY];
	const char *params[3] = {args[0], apply ? "true" : "false", on_conflict};
	PGresult   *res;
	int			n_planned = 0,
				n_applied = 0,
				n_conflict = 0,
				n_skipped = 0,
				n_done = 0,
				status_col;
	int			rc = EXIT_OK;

	if (strcmp(on_conflict, "abort") != 0 && strcmp(on_conflict, "skip") != 0)
		usage_error("rollback: --on-conflict must be \"abort\" or \"skip\", not \"%s\"", on_conflict);

	/* YG030: rows changed since the run; the way on, in this program's words */
	hint_sqlstate = "YG030";
	snprintf(hint_text, sizeof(hint_text),
			 "Nothing was changed.  See the plan with \"%s rollback %s\", or run \"%s rollback %s "
			 "--apply --on-conflict skip\" to restore the other rows and leave these.",
			 progname, args[0], progname, args[0]);

	if (opt_seen[O_JSON])
	{
		res = query("SELECT coalesce(pg_catalog.json_agg(q), '[]'::json),"
					" count(*) FILTER (WHERE q.status = 'conflict')"
					" FROM (SELECT step, event_id, relation, operation, row_key, action, status, detail"
					" FROM agent_guard.rollback_run($1, $2::boolean, $3)) q", 3, params);
		print_value(res);
		rc = strcmp(PQgetvalue(res, 0, 1), "0") == 0 ? EXIT_OK : EXIT_REFUSED;
		PQclear(res);
		return rc;
	}

	res = query(rollback_sql, 3, params);
	status_col = PQfnumber(res, "status");
	for (int r = 0; r < PQntuples(res); r++)
	{
		const char *s = PQgetvalue(res, r, status_col);

		if (strcmp(s, "planned") == 0)
			n_planned++;
		else if (strcmp(s, "applied") == 0)
			n_applied++;
		else if (strcmp(s, "conflict") == 0)
			n_conflict++;
		else if (strcmp(s, "skipped") == 0)
			n_skipped++;
		else
			n_done++;
	}
	if (n_conflict > 0)
		rc = EXIT_REFUSED;
	if (PQntuples(res) > 0)
		print_table(res, false);
	if (!apply)
		printf("plan for run %s: %d to undo, %d in conflict, %d skipped, %d already rolled back; "
			   "nothing changed%s\n", args[0], n_planned, n_conflict, n_skipped, n_done,
			   n_planned > 0 ? " (run again with --apply to undo)" : "");
	else
		printf("rolled back run %s: %d undone, %d in conflict (left as they are), %d skipped, "
			   "%d already rolled back\n", args[0], n_applied, n_conflict, n_skipped, n_done);
	PQclear(res);
	return rc;
}

static int
cmd_requests(const Command *cmd, int nargs, char **args)
{
	PGresult   *res;

	const char *params[1] = {opt_seen[O_PENDING] ? "true" : "false"};

	require_relation("agent_guard.requests", "the requests view");
	if (opt_seen[O_JSON])
	{
		res = query_json_rows("SELECT * FROM agent_guard.requests"
							  " WHERE NOT $1::boolean OR status = 'pending' ORDER BY request_id",
							  1, params);
		print_value(res);
	}
	else
	{
		/* what the human decides on, in a 100-column terminal; --json has all */
		/*
		 * parameters: the values bound to the statement (1.2 on), a column
		 * shown only when some request has them
		 */
		const char *sql =
			"SELECT request_id AS id,"
			" pg_catalog.to_char(requested_at, 'MM-DD HH24:MI:SS') AS requested,"
			" agent_id AS agent, run_id AS run, kind, status,"
			" decided_by, statement%s"
			" FROM agent_guard.requests r"
			" WHERE NOT $1::boolean OR status = 'pending' ORDER BY request_id";
		char		with[1024],
					without[1024];
		bool		any = false;

		snprintf(with, sizeof(with), sql,
				 ", pg_catalog.to_jsonb(r) OPERATOR(pg_catalog.->>) 'parameters' AS parameters");
		snprintf(without, sizeof(without), sql, "");
		res = query(with, 1, params);
		for (int r = 0; r < PQntuples(res) && !any; r++)
			any = !PQgetisnull(res, r, PQnfields(res) - 1);
		if (!any)
		{
			PQclear(res);
			res = query(without, 1, params);
		}
		if (PQntuples(res) == 0)
			printf(opt_seen[O_PENDING] ? "no pending requests\n" : "no requests on record\n");
		else
			print_table_fit(res, true, 100);
	}
	PQclear(res);
	return EXIT_OK;
}

/*
 * The whole of a file, for approve --statement-file ("-": standard input):
 * the statement the human read, when the request holds only its start.
 */
static char *
read_whole_file(const char *path)
{
	FILE	   *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	size_t		cap = 8192,
				len = 0,
				n;
	char	   *buf;

	if (f == NULL)
		fail(EXIT_USAGE, "could not open \"%s\": %s", path, strerror(errno));
	buf = malloc(cap);
	if (buf == NULL)
		fail(EXIT_REFUSED, "out of memory");
	while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0)
	{
		len += n;
		if (len + 1 == cap)
		{
			cap *= 2;
			buf = realloc(buf, cap);
			if (buf == NULL)
				fail(EXIT_REFUSED, "out of memory");
		}
	}
	if (ferror(f))
		fail(EXIT_USAGE, "could not read \"%s\": %s", path, strerror(errno));
	if (f != stdin)
		fclose(f);
	if (memchr(buf, '\0', len) != NULL)
		fail(EXIT_USAGE, "\"%s\" holds a zero byte: it is not a statement's text", path);
	buf[len] = '\0';
	return buf;
}

static int
decide(const Command *cmd, const char *id, const char *verb_done)
{
	const char *params[3] = {id, opt_val[O_NOTE], NULL};
	char		sig[64],
				sql[512];
	PGresult   *res;
	bool		with_text = opt_seen[O_STATEMENT_FILE];

	/*
	 * A request that holds only the start of a long statement is approved
	 * with the whole text, which the server checks against the agent's.
	 */
	if (with_text)
		params[2] = read_whole_file(opt_val[O_STATEMENT_FILE]);
	snprintf(sig, sizeof(sig), "agent_guard.%s(bigint,text%s)", cmd->name, with_text ? ",text" : "");
	require_function(sig, with_text ? "approving with the whole statement" : cmd->name);
	snprintf(sql, sizeof(sql),
			 "SELECT request_id, agent_id, run_id, status, statement, "
			 "       pg_catalog.to_jsonb(r) OPERATOR(pg_catalog.->>) 'parameters' AS parameters, "
			 "       decided_by, note, expires_at "
			 "FROM agent_guard.%s($1::bigint, $2::text%s) r", cmd->name, with_text ? ", $3::text" : "");
	res = query(sql, with_text ? 3 : 2, params);
	printf("%s request %s\n", verb_done, id);
	if (PQntuples(res) > 0)
	{
		const char *stmt = PQgetvalue(res, 0, 4);

		print_table(res, false);
		/* the table shows a line break as \n: the statement as it reads */
		if (strchr(stmt, '\n') != NULL || strchr(stmt, '\r') != NULL)
		{
			char	   *t = printable(stmt, PR_INDENT);

			printf("statement:\n    %s\n", t);
			free(t);
		}
	}
	PQclear(res);
	return EXIT_OK;
}

static int
cmd_approve(const Command *cmd, int nargs, char **args)
{
	return decide(cmd, parse_id(cmd, args[0]), "approved");
}

static int
cmd_deny(const Command *cmd, int nargs, char **args)
{
	return decide(cmd, parse_id(cmd, args[0]), "denied");
}

static int
cmd_freeze(const Command *cmd, int nargs, char **args)
{
	char	   *reason = join_args(nargs, args);
	const char *params[2] = {reason, opt_val[O_AGENT]};
	PGresult   *res;

	if (reason[strspn(reason, " \t")] == '\0')
		usage_error("freeze: the reason must not be empty");
	require_function("agent_guard.freeze(text,text)", "the freeze switch");
	res = query("SELECT agent_guard.freeze($1::text, $2::text)", 2, params);
	PQclear(res);
	if (opt_val[O_AGENT])
		printf("froze agent %s: %s\n", opt_val[O_AGENT], reason);
	else
		printf("froze all agents: %s\n", reason);
	free(reason);
	return EXIT_OK;
}

static int
cmd_unfreeze(const Command *cmd, int nargs, char **args)
{
	const char *params[1] = {opt_val[O_AGENT]};
	PGresult   *res;

	bool		lifted;

	require_function("agent_guard.unfreeze(text)", "the freeze switch");
	/* the server's NOTICE would say it again */
	PQsetNoticeProcessor(conn, quiet_notice_processor, NULL);
	res = query("SELECT agent_guard.unfreeze($1::text)", 1, params);
	lifted = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!lifted)
	{
		/* nothing to lift is not an error: the agents are not frozen */
		if (opt_val[O_AGENT])
			printf("no freeze for agent %s: nothing changed\n", opt_val[O_AGENT]);
		else
			printf("no freeze for all agents: nothing changed\n");
		return EXIT_OK;
	}
	if (opt_val[O_AGENT])
		printf("unfroze agent %s\n", opt_val[O_AGENT]);
	else
		printf("unfroze all agents\n");
	return EXIT_OK;
}

static int
cmd_verify(const Command *cmd, int nargs, char **args)
{
	const char *params[1] = {opt_val[O_HEAD]};
	PGresult   *res;
	bool		ok;

	res = query("SELECT v.ok, v.events_checked, v.first_bad_event, v.detail, agent_guard.log_head() AS head"
				" FROM agent_guard.verify_log($1) v", 1, params);
	if (PQntuples(res) != 1)
		fail(EXIT_REFUSED, "verify_log returned %d rows", PQntuples(res));
	ok = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);

	if (opt_seen[O_JSON])
		res = query("SELECT pg_catalog.row_to_json(q) FROM (SELECT v.ok, v.events_checked,"
					" v.first_bad_event, v.detail, agent_guard.log_head() AS head"
					" FROM agent_guard.verify_log($1) v) q", 1, params);
	else
		res = query("SELECT CASE WHEN v.ok THEN 'ok' ELSE 'FAILED' END AS verified, v.events_checked,"
					" v.first_bad_event, v.detail, agent_guard.log_head() AS head"
					" FROM agent_guard.verify_log($1) v", 1, params);
	if (opt_seen[O_JSON])
		print_value(res);
	else
		print_record(res, 0);
	PQclear(res);
	fflush(stdout);
	if (!ok)
		fprintf(stderr, "%s: the event log does not verify\n", progname);
	return ok ? EXIT_OK : EXIT_REFUSED;
}

/*
 * --head: a head as agent_guard.log_head() gives it, "SEQ:HEX64" (or the 64
 * hex digits alone); anything else is bad usage, found before connecting.
 */
static void
check_head(const char *h)
{
	const char *p = h;
	size_t		n;

	n = strspn(p, "0123456789");
	if (n > 0 && p[n] == ':')
		p += n + 1;
	n = strspn(p, "0123456789abcdefABCDEF");
	if (n != 64 || p[n] != '\0')
		usage_error("verify: --head must be a head as agent_guard.log_head() gives it (SEQ:64 hex digits), not \"%.80s\"", h);
}

/* watch: LISTEN until interrupted */
static volatile sig_atomic_t stop_requested = 0;

static void
on_stop_signal(int sig)
{
	stop_requested = 1;
}

/*
 * Any role may NOTIFY on channel agent_guard, an agent too, so a payload is
 * no evidence.  A notification about a request shows the request as
 * agent_guard.requests has it: the payload gives only its id, and an id
 * with no request on record says so.  Any other notification is shown with
 * the role of the session that sent it (from pg_stat_activity, while that
 * session lives), so a line an agent sent says it came from the agent.
 */
static const char *const watch_sender_sql =
"SELECT coalesce((SELECT CASE WHEN pg_catalog.has_function_privilege("
"                                  pg_catalog.to_regprocedure('agent_guard.sealer_status()'), 'EXECUTE')"
"                             AND EXISTS (SELECT 1 FROM agent_guard.sealer_status() s WHERE s.pid = a.pid)"
"                        THEN 'the guard''s sealer'"
"                        ELSE 'role ' || coalesce(a.usename::text, '?') END || ' (pid ' || a.pid || ')'"
"                 FROM pg_catalog.pg_stat_activity a WHERE a.pid = $1::integer),"
"                'pid ' || $1::integer || ', since gone')";

static const char *const watch_text_sql =
"SELECT CASE WHEN p.id IS NULL THEN NULL"
"            WHEN r.request_id IS NULL THEN 'unverified: no request ' || p.id || ' on record'"
"            ELSE 'request ' || r.request_id || ' ' || r.status || '  agent=' || coalesce(r.agent_id, '')"
"                 || '  run=' || coalesce(r.run_id, 'null') || '  kind=' || r.kind"
"                 || coalesce('  decided_by=' || r.decided_by, '')"
"                 || '  reason=' || coalesce(r.reason, '') || '  statement=' || coalesce(r.statement, '')"
"                 || coalesce('  parameters=' || (pg_catalog.to_jsonb(r) OPERATOR(pg_catalog.->>) 'parameters'), '') END,"
"       (SELECT pg_catalog.string_agg(key || '=' || coalesce(value, 'null'), '  ')"
"          FROM pg_catalog.json_each_text(CASE WHEN pg_catalog.json_typeof(p.j) = 'object' THEN p.j END))"
"  FROM (SELECT j, CASE WHEN pg_catalog.json_typeof(j) = 'object' THEN j->>'request_id' END AS id"
"          FROM (SELECT $1::json AS j) x) p"
"  LEFT JOIN agent_guard.requests r ON r.request_id::text = p.id";

static const char *const watch_json_sql =
"SELECT pg_catalog.json_build_object('sender', $3::text, 'payload', $1::text, 'pid', $2::integer, 'request',"
"       (SELECT pg_catalog.row_to_json(r) FROM agent_guard.requests r"
"         WHERE r.request_id::text = (CASE WHEN pg_catalog.json_typeof($1::json) = 'object'"
"                                     THEN $1::json->>'request_id' END)))";

static const char *const watch_json_plain_sql =
"SELECT pg_catalog.json_build_object('sender', $3::text, 'payload', $1::text, 'pid', $2::integer, 'request', NULL)";

static void
print_notification(PGnotify *n)
{
	char		ts[32];
	char		pid[16];
	time_t		now = time(NULL);
	const char *params[3] = {n->extra, pid, NULL};	/* payload, pid, sender */
	char	   *sender;
	PGresult   *res;

	snprintf(pid, sizeof(pid), "%d", n->be_pid);
	res = PQexecParams(conn, watch_sender_sql, 1, NULL, params + 1, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		sender = strdup(PQgetvalue(res, 0, 0));
	else
	{
		/* say why the sender is not named, rather than a bare pid */
		const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		char	   *m = one_line(primary != NULL ? primary : PQresultErrorMessage(res));
		size_t		len = strlen(pid) + strlen(m) + 64;

		sender = malloc(len);
		if (sender != NULL)
			snprintf(sender, len, "pid %s, sender unknown (lookup failed: %s)", pid, m);
		free(m);
	}
	PQclear(res);
	if (sender == NULL)
		fail(EXIT_REFUSED, "out of memory");
	params[2] = sender;

	if (opt_seen[O_JSON])
	{
		char	   *t;

		res = PQexecParams(conn, watch_json_sql, 3, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			PQclear(res);
			res = PQexecParams(conn, watch_json_plain_sql, 3, NULL, params, NULL, NULL, 0);
		}
		t = one_line(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 ?
					 PQgetvalue(res, 0, 0) : "{}");
		printf("%s\n", t);
		free(t);
		PQclear(res);
		free(sender);
		fflush(stdout);
		return;
	}
	strftime(ts, sizeof(ts), "%H:%M:%S", localtime(&now));
	res = PQexecParams(conn, watch_text_sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
	{
		/* a request, as on record: a statement's lines on lines of their own */
		char	   *t = request_lines(PQgetvalue(res, 0, 0));

		printf("%s  %s (notified by %s)\n", ts, t, sender);
		free(t);
	}
	else
	{
		const char *body = (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
							!PQgetisnull(res, 0, 1)) ? PQgetvalue(res, 0, 1) : n->extra;
		char	   *s = one_line(sender);
		char	   *t = one_line(body);

		printf("%s  from %s: %s\n", ts, s, t);
		free(s);
		free(t);
	}
	PQclear(res);
	free(sender);
	fflush(stdout);
}

static int
cmd_watch(const Command *cmd, int nargs, char **args)
{
	long		limit = opt_val[O_COUNT] ? parse_count(opt_val[O_COUNT]) : 0;
	long		seen = 0;
	struct sigaction sa;
	PGresult   *res;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	res = query("LISTEN agent_guard", 0, NULL);
	PQclear(res);
	if (!opt_seen[O_JSON])
		printf("watching channel agent_guard in database %s (Ctrl-C to stop)\n", PQdb(conn));
	fflush(stdout);

	while (!stop_requested)
	{
		int			sock = PQsocket(conn);
		fd_set		in;
		struct timeval tv = {0, 500000};	/* recheck the stop flag twice a second */
		PGnotify   *n;

		if (sock < 0)
			fail(EXIT_CONNECT, "connection lost");
		FD_ZERO(&in);
		FD_SET(sock, &in);
		if (select(sock + 1, &in, NULL, NULL, &tv) < 0)
		{
			if (errno == EINTR)
				continue;
			fail(EXIT_CONNECT, "select() failed: %s", strerror(errno));
		}
		if (!PQconsumeInput(conn))
		{
			char	   *m = one_line(PQerrorMessage(conn));

			fail(EXIT_CONNECT, "connection lost: %s", m);
		}
		while ((n = PQnotifies(conn)) != NULL)
		{
			print_notification(n);
			PQfreemem(n);
			if (limit > 0 && ++seen >= limit)
				return EXIT_OK;
		}
	}
	if (!opt_seen[O_JSON])
		printf("stopped\n");
	return EXIT_OK;
}

/*
 * libpq splits PGOPTIONS at spaces unless escaped with a backslash, so
 * escape spaces and backslashes in a value.
 */
static void
append_option(char **buf, size_t *len, size_t *cap, const char *name, const char *value)
{
	size_t		need = *len + strlen(name) + 2 * strlen(value) + 8;

	if (need > *cap)
	{
		*cap = need * 2;
		*buf = realloc(*buf, *cap);
		if (*buf == NULL)
			fail(EXIT_REFUSED, "out of memory");
	}
	if (*len > 0)
		(*buf)[(*len)++] = ' ';
	*len += sprintf(*buf + *len, "-c %s=", name);
	for (const char *p = value; *p; p++)
	{
		if (*p == ' ' || *p == '\\')
			(*buf)[(*len)++] = '\\';
		(*buf)[(*len)++] = *p;
	}
	(*buf)[*len] = '\0';
}

/*
 * Whether a command name is an executable file in PATH: execvp reports
 * EACCES for a missing program when some PATH directory is unreadable.
 */
static bool
in_path(const char *name)
{
	const char *path = getenv("PATH");
	char		buf[PATH_MAX];

	if (path == NULL || *path == '\0')
		path = "/bin:/usr/bin";
	while (*path)
	{
		size_t		len = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int) len, len ? path : ".", name);
		if (access(buf, X_OK) == 0)
			return true;
		path += len;
		if (*path == ':')
			path++;
	}
	return false;
}

static int
cmd_exec(const Command *cmd, int nargs, char **args)
{
	const char *old = getenv("PGOPTIONS");
	size_t		len = 0,
				cap = 256 + (old ? strlen(old) : 0);
	char	   *opts = malloc(cap);
	int			err;

	if (opts == NULL)
		fail(EXIT_REFUSED, "out of memory");
	if (opt_val[O_AGENT] == NULL || opt_val[O_AGENT][0] == '\0')
		usage_error("exec: --agent is required");
	if (opt_val[O_RUN] != NULL && opt_val[O_RUN][0] == '\0')
		usage_error("exec: --run must not be empty");
	if (nargs == 0)
		usage_error("exec: a command to run is required (agent-guard exec --agent A -- COMMAND ...)");

	opts[0] = '\0';
	if (old && old[0])
	{
		strcpy(opts, old);
		len = strlen(opts);
	}
	append_option(&opts, &len, &cap, "agent_guard.agent_id", opt_val[O_AGENT]);
	if (opt_val[O_RUN])
		append_option(&opts, &len, &cap, "agent_guard.run_id", opt_val[O_RUN]);
	setenv("PGOPTIONS", opts, 1);
	/* connection options become the environment every libpq program reads */
	if (opt_val[O_DBNAME])
		setenv("PGDATABASE", opt_val[O_DBNAME], 1);
	if (opt_val[O_HOST])
		setenv("PGHOST", opt_val[O_HOST], 1);
	if (opt_val[O_PORT])
		setenv("PGPORT", opt_val[O_PORT], 1);
	if (opt_val[O_USER])
		setenv("PGUSER", opt_val[O_USER], 1);

	if (strchr(args[0], '/') == NULL && !in_path(args[0]))
		fail(127, "could not run \"%s\": command not found", args[0]);
	execvp(args[0], args);
	err = errno;
	fprintf(stderr, "%s: could not run \"%s\": %s\n", progname, args[0], strerror(err));
	return err == ENOENT ? 127 : 126;
}

/* ---------------------------------------------------------------------
 * Command table and help
 * ---------------------------------------------------------------------
 */
static const Command commands[] = {
	{"runs", cmd_runs, BIT(O_JSON) | BIT(O_AGENT), 0, 0,
		"runs [--agent A] [--json]",
	"List agent runs: agent, login role, window, transactions, statements, rows\n"
	"inserted, updated, deleted and soft-deleted, guard events, status.\n"
	"  --agent A   only the runs of agent A\n"
	"  --json      a JSON array of the agent_guard.runs rows\n"},
	{"show", cmd_show, BIT(O_JSON) | BIT(O_LIMIT), 1, 1,
		"show RUN [--limit N|all] [--json]",
	"Show one run: its summary and how many events of each kind, then its first\n"
	"events in order (time, transaction, operation, relation, row key, who:\n"
	"the agent, or \"human ROLE\" for a human's act, statement), compensations\n"
	"included.\n"
	"  --limit N   show the first N events (default 20; 0: the summary only;\n"
	"              all: every event)\n"
	"  --json      {\"runs\": [...], \"events\": [...]}: every event, with row images\n"},
	{"postmortem", cmd_postmortem, BIT(O_JSON), 1, 1,
		"postmortem RUN [--json]",
	"Print the incident report of a run (agent_guard.postmortem) in Markdown:\n"
	"who, from where, privileges, statements, guards, data touched, recovery,\n"
	"evidence.\n"
	"  --json      agent_guard.postmortem_json instead\n"},
	{"rollback", cmd_rollback, BIT(O_JSON) | BIT(O_APPLY) | BIT(O_ON_CONFLICT), 1, 1,
		"rollback RUN [--apply] [--on-conflict abort|skip] [--json]",
	"Show the plan that undoes every write of a run; with --apply, undo it\n"
	"(all or nothing).  Exit status 1 when rows conflict (changed since the run).\n"
	"  --apply              replay the compensations\n"
	"  --on-conflict skip   restore the other rows and leave the conflicting ones\n"
	"  --on-conflict abort  change nothing when a row conflicts (the default)\n"
	"  --json               the plan rows as a JSON array\n"},
	{"requests", cmd_requests, BIT(O_JSON) | BIT(O_PENDING), 0, 0,
		"requests [--pending] [--json]",
	"List approval requests (agent_guard.requests), oldest first: statements\n"
	"agents were refused, and who decided them.  The table fits 100 columns\n"
	"(long cells end in an ellipsis); --json has every column in full.\n"
	"  --pending   only the requests waiting for a human\n"
	"  --json      a JSON array of the rows\n"},
	{"approve", cmd_approve, BIT(O_NOTE) | BIT(O_STATEMENT_FILE), 1, 1,
		"approve ID [--note TEXT] [--statement-file FILE]",
	"Approve request ID: the same agent may run the same statement once,\n"
	"within agent_guard.approval_ttl.  A request whose statement was too long\n"
	"to be recorded whole (statement_truncated) is approved only with the whole\n"
	"text, which must be the one the agent sent; one whose reason shows only the\n"
	"start of the text the statement runs (a prepared statement's, a function's\n"
	"query: \"... (N more characters)\"), only with that text whole.\n"
	"  --note TEXT             why, kept on record\n"
	"  --statement-file FILE   the whole text you read (- for standard input)\n"},
	{"deny", cmd_deny, BIT(O_NOTE), 1, 1,
		"deny ID [--note TEXT]",
	"Deny request ID.\n"
	"  --note TEXT   why, kept on record\n"},
	{"freeze", cmd_freeze, BIT(O_AGENT), 1, MAX_ARGS,
		"freeze [--agent A] REASON...",
	"Freeze agent writes (all agents, or agent A), effective at the next statement\n"
	"of sessions already connected; survives a restart.\n"
	"  --agent A   freeze only agent A\n"},
	{"unfreeze", cmd_unfreeze, BIT(O_AGENT), 0, 0,
		"unfreeze [--agent A]",
	"Lift the freeze for all agents, or for agent A.\n"},
	{"verify", cmd_verify, BIT(O_JSON) | BIT(O_HEAD), 0, 0,
		"verify [--head HEAD] [--json]",
	"Recompute the event log's hash chain (agent_guard.verify_log) and print the\n"
	"result and the head.  Exit status 1 when the log does not verify.\n"
	"  --head HEAD   a head kept earlier (agent_guard.log_head()): also proves\n"
	"                nothing was cut from the end\n"
	"  --json        one JSON object\n"},
	{"watch", cmd_watch, BIT(O_JSON) | BIT(O_COUNT), 0, 0,
		"watch [--count N] [--json]",
	"LISTEN on channel agent_guard and print approval requests and blocked\n"
	"attempts as they happen, one line each.  Ctrl-C stops it (exit status 0).\n"
	"  --count N   stop after N notifications\n"
	"  --json      print each payload as it is, one per line\n"},
	{"exec", cmd_exec, BIT(O_AGENT) | BIT(O_RUN), 0, MAX_ARGS,
		"exec --agent A [--run R] [--] COMMAND [ARG...]",
	"Run COMMAND (psql, pg_dump, a migration tool, an agent's harness: any libpq\n"
	"program) as agent A: PGOPTIONS gets \"-c agent_guard.agent_id=A -c\n"
	"agent_guard.run_id=R\" appended, and -d/-h/-p/-U become PGDATABASE, PGHOST,\n"
	"PGPORT, PGUSER.  agent-guard is replaced by COMMAND, so the exit status is\n"
	"COMMAND's (127 if it cannot be found).\n"
	"  --agent A   the agent id (required)\n"
	"  --run R     the run label (default: the server generates one)\n"},
	{"help", NULL, 0, 0, 1, "help [COMMAND]", "Show help for all commands or for one.\n"},
};

#define NCOMMANDS ((int) (sizeof(commands) / sizeof(commands[0])))

static const char *const connection_help =
"Connection options (as for psql; the PG* environment and ~/.pgpass apply):\n"
"  -d, --dbname=DBNAME     database name or conninfo string / URI (sslmode=... etc.)\n"
"  -h, --host=HOSTNAME     server host or socket directory\n"
"  -p, --port=PORT         server port\n"
"  -U, --username=USER     user name\n";

static void
print_help(void)
{
	printf("agent-guard: the command line for the human on call (agent_guard %s)\n\n", AG_VERSION);
	printf("Usage:\n  %s [OPTION]... COMMAND [ARG]...\n\nCommands:\n", progname);
	for (int i = 0; i < NCOMMANDS; i++)
		printf("  %s\n", commands[i].synopsis);
	printf("\n%s", connection_help);
	printf("\nOther options:\n"
		   "  -?, --help              show this help (or \"%s COMMAND --help\")\n"
		   "  -V, --version           show the version\n", progname);
	printf("\nExit status: 0 ok; 1 refused or failed (a server error, a log that does not\n"
		   "verify, a rollback conflict); 2 bad usage; 3 could not connect.\n");
}

static void
print_command_help(const Command *cmd)
{
	printf("Usage:\n  %s %s\n\n%s", progname, cmd->synopsis, cmd->help);
	if (cmd->fn != NULL)
		printf("\n%s", connection_help);
}

static const Command *
find_command(const char *name)
{
	for (int i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* ---------------------------------------------------------------------
 * Argument parsing: options may come before or after the command; for
 * exec, "--" or the first word after the options starts the program.
 * ---------------------------------------------------------------------
 */
static int
find_long(const char *name, size_t len)
{
	for (int o = 0; o < O_NUM; o++)
		if (strlen(opt_specs[o].name) == len && strncmp(opt_specs[o].name, name, len) == 0)
			return o;
	return -1;
}

static int
find_short(char c)
{
	for (int o = 0; o < O_NUM; o++)
		if (opt_specs[o].shortname == c)
			return o;
	return -1;
}

int
main(int argc, char **argv)
{
	const Command *cmd = NULL;
	char	   *args[MAX_ARGS + 1];
	int			nargs = 0;
	bool		rest_is_command = false;
	int			rc;

	for (int i = 1; i < argc; i++)
	{
		char	   *a = argv[i];
		int			o;
		const char *val = NULL;

		if (rest_is_command || strcmp(a, "-") == 0 || a[0] != '-')
		{
			if (cmd == NULL && !rest_is_command)
			{
				cmd = find_command(a);
				if (cmd == NULL && a[0] == '\0')
					usage_error("a command is required, not an empty word");
				if (cmd == NULL)
					usage_error("unknown command \"%s\"", a);
				continue;
			}
			if (nargs >= MAX_ARGS)
				usage_error("too many arguments");
			args[nargs++] = a;
			if (cmd && cmd->fn == cmd_exec)
				rest_is_command = true;
			continue;
		}
		if (strcmp(a, "--") == 0)
		{
			rest_is_command = true;
			continue;
		}
		if (a[1] == '-')
		{
			const char *eq = strchr(a + 2, '=');
			size_t		len = eq ? (size_t) (eq - (a + 2)) : strlen(a + 2);

			o = find_long(a + 2, len);
			if (o < 0)
				usage_error("unknown option \"%.*s\"", (int) len + 2, a);
			if (opt_specs[o].has_arg)
			{
				if (eq)
					val = eq + 1;
				else if (i + 1 < argc)
					val = argv[++i];
				else
					usage_error("option \"--%s\" needs a value", opt_specs[o].name);
			}
			else if (eq)
				usage_error("option \"--%s\" takes no value", opt_specs[o].name);
		}
		else
		{
			o = find_short(a[1]);
			if (o < 0)
				usage_error("unknown option \"-%c\"", a[1]);
			if (opt_specs[o].has_arg)
			{
				if (a[2])
					val = a + 2;
				else if (i + 1 < argc)
					val = argv[++i];
				else
					usage_error("option \"-%c\" needs a value", a[1]);
			}
			else if (a[2])
				usage_error("unknown option \"%s\"", a);
		}
		/* an option for the command must follow it, so it can be checked */
		if (!(COMMON_OPTS & BIT(o)) && o != O_VERSION &&
			(cmd == NULL || !(cmd->allowed & BIT(o))))
		{
			if (cmd == NULL)
				usage_error("option \"--%s\" must follow a command", opt_specs[o].name);
			usage_error("%s: unknown option \"--%s\"", cmd->name, opt_specs[o].name);
		}
		opt_seen[o] = true;
		opt_val[o] = val;
	}
	args[nargs] = NULL;

	if (opt_seen[O_VERSION])
	{
		printf("agent-guard (agent_guard) %s\n", AG_VERSION);
		return EXIT_OK;
	}
	if (cmd == NULL)
	{
		if (opt_seen[O_HELP])
		{
			print_help();
			return EXIT_OK;
		}
		/* bare agent-guard: the usage, on stderr, as bad usage */
		fprintf(stderr, "%s: a command is required\n\nUsage:\n  %s [OPTION]... COMMAND [ARG]...\n\nCommands:\n",
				progname, progname);
		for (int i = 0; i < NCOMMANDS; i++)
			fprintf(stderr, "  %s\n", commands[i].synopsis);
		fprintf(stderr, "\nSee \"%s --help\" for the options, \"%s help COMMAND\" for one command.\n",
				progname, progname);
		return EXIT_USAGE;
	}
	if (cmd->fn == NULL)		/* help [COMMAND] */
	{
		const Command *c;

		if (nargs == 0)
		{
			print_help();
			return EXIT_OK;
		}
		if (nargs > 1)
			usage_error("help: too many arguments");
		c = find_command(args[0]);
		if (c == NULL)
			usage_error("unknown command \"%s\"", args[0]);
		print_command_help(c);
		return EXIT_OK;
	}
	if (opt_seen[O_HELP])
	{
		print_command_help(cmd);
		return EXIT_OK;
	}
	if (nargs < cmd->min_args)
		usage_error("%s: missing argument (usage: %s %s)", cmd->name, progname, cmd->synopsis);
	if (nargs > cmd->max_args)
		usage_error("%s: unexpected argument \"%s\"", cmd->name, args[cmd->max_args]);

	if (cmd->fn == cmd_exec)
		return cmd_exec(cmd, nargs, args);
	/* check arguments that need no server before connecting */
	if (cmd->fn == cmd_approve || cmd->fn == cmd_deny)
		parse_id(cmd, args[0]);
	if (cmd->fn == cmd_watch && opt_val[O_COUNT])
		parse_count(opt_val[O_COUNT]);
	if (cmd->fn == cmd_show)
		parse_limit(opt_val[O_LIMIT]);
	if (cmd->fn == cmd_verify && opt_val[O_HEAD])
		check_head(opt_val[O_HEAD]);
	if (cmd->fn == cmd_rollback && opt_val[O_ON_CONFLICT] &&
		strcmp(opt_val[O_ON_CONFLICT], "abort") != 0 && strcmp(opt_val[O_ON_CONFLICT], "skip") != 0)
		usage_error("rollback: --on-conflict must be \"abort\" or \"skip\", not \"%s\"",
					opt_val[O_ON_CONFLICT]);
	if (cmd->fn == cmd_freeze)
	{
		char	   *reason = join_args(nargs, args);

		if (reason[strspn(reason, " \t")] == '\0')
			usage_error("freeze: the reason must not be empty");
		free(reason);
	}

	connect_db();
	require_extension();
	rc = cmd->fn(cmd, nargs, args);
	fflush(stdout);
	finish_and_exit(rc);
	return rc;
}
