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
 * AG_PARAM_VALUE_LOG characters ("..." marks the cut).  The approval's key
 * (approvalkey.c) covers the values whole, each with its type and in the
 * type's binary form where it has one: the text form depends on settings
 * the agent controls (extra_float_digits prints two floats alike).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "nodes/params.h"
#include "tcop/pquery.h"
#include "utils/lsyscache.h"
#include "utils/portal.h"
#include "utils/syscache.h"

#include "agent_guard.h"
#include "approvalkey.h"

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

/*
 * The bound values as key material (approvalkey.c): their number, then
 * each one's type, whether it is null, and its value in binary (send) or,
 * for a type without a send function, text form.
 */
void
ag_client_params_material(StringInfo m)
{
	ParamListInfo p = client_params();
	int			i;

	ag_key_add_bytes(m, "parameters", 10);
	ag_key_add_int(m, p == NULL ? 0 : (uint64) p->numParams);
	for (i = 0; p != NULL && i < p->numParams; i++)
	{
		ParamExternData *prm = &p->params[i];
		HeapTuple	tup;
		Oid			send = InvalidOid;
		bool		isvarlena;
		Oid			out;

		ag_key_add_int(m, (uint64) prm->ptype);
		if (prm->isnull || !OidIsValid(prm->ptype))
		{
			ag_key_add_int(m, 0);
			continue;
		}
		tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(prm->ptype));
		if (HeapTupleIsValid(tup))
		{
			send = ((Form_pg_type) GETSTRUCT(tup))->typsend;
			ReleaseSysCache(tup);
		}
		if (OidIsValid(send))
		{
			bytea	   *b;

			getTypeBinaryOutputInfo(prm->ptype, &send, &isvarlena);
			b = OidSendFunctionCall(send, prm->value);
			ag_key_add_int(m, 1);
			ag_key_add_bytes(m, VARDATA(b), VARSIZE(b) - VARHDRSZ);
		}
		else
		{
			char	   *s;

			getTypeOutputInfo(prm->ptype, &out, &isvarlena);
			s = OidOutputFunctionCall(out, prm->value);
			ag_key_add_int(m, 2);
			ag_key_add_bytes(m, s, strlen(s));
		}
	}
}
