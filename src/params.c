/*-------------------------------------------------------------------------
 * params.c
 *		The bound parameter values of the client statement that runs.
 *
 * A driver that prepares "UPDATE t SET v = $1 WHERE id <= $2" sends the
 * values apart from the text.  The text alone says nothing of what the
 * statement did, so the values are kept with the statement record
 * (agent_guard.statements.parameters) and with a refused statement's
 * request, and an approval covers the text and the values: a retry with
 * other values is another statement.
 *
 * The values are those of the portal the client runs (extended protocol:
 * Bind); a simple-protocol statement, EXECUTE name(args) included, has its
 * values in its text.  They are printed the way PostgreSQL logs them
 * ("$1 = 'void', $2 = '12'"), with the types' output functions, which are
 * built in or a superuser's.  For the record each value is cut at
 * AG_PARAM_VALUE_LOG characters ("..." marks the cut); the approval's hash
 * covers the values whole.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "nodes/params.h"
#include "tcop/pquery.h"
#include "utils/portal.h"

#include "agent_guard.h"

/* The client's bound parameters, or NULL when it bound none. */
static ParamListInfo
client_params(void)
{
	ParamListInfo p;

	if (ActivePortal == NULL)
		return NULL;
	p = ActivePortal->portalParams;
	if (p == NULL || p->numParams <= 0 || p->paramFetch != NULL)
		return NULL;
	return p;
}

/*
 * "$1 = 'void', $2 = '12'" for the client statement that runs, each value
 * cut at maxlen characters (-1: whole), palloc'd; NULL without parameters.
 */
char *
ag_client_params_text(int maxlen)
{
	ParamListInfo p = client_params();

	if (p == NULL)
		return NULL;
	return BuildParamLogString(p, NULL, maxlen);
}

/*
 * Combine a statement's hash with the hash of its bound values, whole; the
 * hash is unchanged for a statement without parameters, so approvals of
 * such statements mean what they meant before.
 */
int64
ag_client_params_hash(int64 statement_hash)
{
	char	   *all = ag_client_params_text(-1);
	uint64		h;

	if (all == NULL)
		return statement_hash;
	h = hash_bytes_extended((const unsigned char *) all, strlen(all), 0);
	pfree(all);
	return (int64) hash_combine64((uint64) statement_hash, h);
}
