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
 * built in or a superuser's, under the pinned output settings
 * (outputpin.c): the agent's DateStyle printed date '2024-02-01' as
 * '01/02/2024', its extra_float_digits 1234 as '1e+03' (red team 15B,
 * finding 4).  For the record each value is cut at
 * AG_PARAM_VALUE_LOG characters ("..." marks the cut) and the whole record
 * at about AG_PARAM_LOG_BYTES (the rest counted, with a mark).  The approval's key
 * (approvalkey.c) covers the values whole, each with its type and in the
 * type's binary form where it has one: the text form depends on settings
 * the agent controls (extra_float_digits prints two floats alike).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "mb/stringinfo_mb.h"
#include "nodes/params.h"
#include "tcop/pquery.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/syscache.h"

#include "agent_guard.h"
#include "approvalkey.h"
#include "outputpin.h"

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
 * A value is printed, to be cut at AG_PARAM_VALUE_LOG characters, from what
 * its start needs: a string's or a bytea's first characters or bytes, and
 * nothing of another value larger than AG_PARAM_PRINT_MAX bytes, which is
 * shown as "(a value of N bytes, not printed)".  Printing it whole would
 * need its output form at once, and a bytea's is twice its size: a 540 MB
 * value, or an array of them, could not be printed at all, and a refusal
 * with it was on no record (red team 13, finding 3).  NULL: print it whole.
 */
#define AG_PARAM_PRINT_MAX ((Size) 1024 * 1024)

static bool
param_prefix(Oid type, int16 typlen, bool typbyval, Datum value, Datum *prefix, Size *size)
{
	struct varlena *v;
	const char *data;
	Size		len;
	Size		keep;
	struct varlena *cut;

	*prefix = value;
	*size = (Size) datumGetSize(value, typbyval, typlen);
	if (typlen != -1)
		return *size <= AG_PARAM_PRINT_MAX;
	v = (struct varlena *) DatumGetPointer(value);
	if (VARATT_IS_EXTERNAL(v) || VARATT_IS_COMPRESSED(v))
		return *size <= AG_PARAM_PRINT_MAX;		/* not as a client binds it */
	if (type != TEXTOID && type != VARCHAROID && type != BPCHAROID && type != BYTEAOID)
		return *size <= AG_PARAM_PRINT_MAX;
	data = VARDATA_ANY(v);
	len = VARSIZE_ANY_EXHDR(v);
	/* one character (byte) more than is kept, so that the cut is marked */
	if (type == BYTEAOID)
		keep = Min(len, (Size) AG_PARAM_VALUE_LOG + 1);
	else
		keep = (Size) pg_mbcharcliplen(data, (int) Min(len, (Size) (AG_PARAM_VALUE_LOG + 1) * MAX_MULTIBYTE_CHAR_LEN),
									   AG_PARAM_VALUE_LOG + 1);
	if (keep < len)
	{
		cut = palloc(VARHDRSZ + keep);
		SET_VARSIZE(cut, VARHDRSZ + keep);
		memcpy(VARDATA(cut), data, keep);
		*prefix = PointerGetDatum(cut);
	}
	return true;
}

/*
 * What printing a value of a built-in type needs, looked up once per
 * session per type: its length and passing, the output settings it prints
 * with (outputpin.c) and its output function, set up.  The catalog rows of
 * the built-in types and functions never change, so nothing is forgotten;
 * any other type is looked up at every call, as before.  The lookups were
 * about 2k instructions of every agent statement with one parameter.
 */
typedef struct ParamType
{
	Oid			type;			/* InvalidOid: slot free */
	int16		typlen;
	bool		typbyval;
	int			deps;
	FmgrInfo	out;
} ParamType;

#define AG_PARAM_TYPES 8
static ParamType param_types[AG_PARAM_TYPES];

static ParamType *
param_type(Oid type)
{
	int			i;
	ParamType  *pt;
	Oid			out;
	bool		isvarlena;

	if (type >= FirstGenbkiObjectId)
		return NULL;
	for (i = 0; i < AG_PARAM_TYPES; i++)
	{
		if (param_types[i].type == type)
			return &param_types[i];
		if (param_types[i].type == InvalidOid)
			break;
	}
	if (i == AG_PARAM_TYPES)
		return NULL;
	pt = &param_types[i];
	get_typlenbyval(type, &pt->typlen, &pt->typbyval);
	pt->deps = ag_output_type_deps(type);
	getTypeOutputInfo(type, &out, &isvarlena);
	fmgr_info_cxt(out, &pt->out, TopMemoryContext);
	pt->type = type;			/* last: a failed lookup leaves the slot free */
	return pt;
}

/*
 * "$1 = 'void', $2 = '12'" for the client statement that runs, palloc'd;
 * NULL without parameters.  Each value is cut at AG_PARAM_VALUE_LOG
 * characters ("..." marks the cut, as PostgreSQL's log does), and once the
 * record passes AG_PARAM_LOG_BYTES the rest are counted, not printed:
 * "... (65533 more parameters, 68157440 bytes, not kept)".  65,535 values
 * of 1 KB would otherwise be 64 MB with every statement row, and the
 * sealer prints it again (red team 13, finding 1).  The bytes are the
 * values' sizes as bound (in memory), NULLs counted as none.
 */
char *
ag_client_params_text(void)
{
	ParamListInfo p = client_params();
	StringInfoData buf;
	int			i;
	int			pin_level;

	if (p == NULL)
		return NULL;
	initStringInfo(&buf);
	/* pinned only as far as the values' types print with the settings */
	{
		int			deps = 0;

		for (i = 0; i < p->numParams; i++)
			if (!p->params[i].isnull && OidIsValid(p->params[i].ptype))
			{
				ParamType  *pt = param_type(p->params[i].ptype);

				deps |= pt ? pt->deps : ag_output_type_deps(p->params[i].ptype);
			}
		pin_level = ag_output_pin(deps);
	}
	for (i = 0; i < p->numParams; i++)
	{
		ParamExternData *prm = &p->params[i];
		ParamType  *pt;
		Oid			out;
		bool		isvarlena;
		char	   *s;
		Datum		prefix;
		Size		size;
		int16		plen;
		bool		pbyval;

		if ((Size) buf.len >= AG_PARAM_LOG_BYTES)
		{
			int			more = p->numParams - i;
			uint64		bytes = 0;

			for (; i < p->numParams; i++)
			{
				int16		typlen;
				bool		typbyval;

				prm = &p->params[i];
				if (prm->isnull || !OidIsValid(prm->ptype))
					continue;
				get_typlenbyval(prm->ptype, &typlen, &typbyval);
				bytes += (uint64) datumGetSize(prm->value, typbyval, typlen);
			}
			appendStringInfo(&buf, " ... (%d more parameter%s, " UINT64_FORMAT " bytes, not kept)",
							 more, more == 1 ? "" : "s", bytes);
			break;
		}
		appendStringInfo(&buf, "%s$%d = ", i > 0 ? ", " : "", i + 1);
		if (prm->isnull || !OidIsValid(prm->ptype))
		{
			appendStringInfoString(&buf, "NULL");
			continue;
		}
		pt = param_type(prm->ptype);
		if (pt)
		{
			plen = pt->typlen;
			pbyval = pt->typbyval;
		}
		else
			get_typlenbyval(prm->ptype, &plen, &pbyval);
		if (!param_prefix(prm->ptype, plen, pbyval, prm->value, &prefix, &size))
		{
			appendStringInfo(&buf, "(a value of %zu bytes, not printed)", size);
			continue;
		}
		if (pt)
			s = OutputFunctionCall(&pt->out, prefix);
		else
		{
			getTypeOutputInfo(prm->ptype, &out, &isvarlena);
			s = OidOutputFunctionCall(out, prefix);
		}
		appendStringInfoStringQuoted(&buf, s, AG_PARAM_VALUE_LOG);
		pfree(s);
		if (prefix != prm->value)
			pfree(DatumGetPointer(prefix));
	}
	ag_output_unpin(pin_level);
	return buf.data;
}

/*
 * The bound values as key material (approvalkey.c): their number and the
 * SHA-256 of every value, each with its type, whether it is null, and its
 * value in binary (send) or, for a type without a send function, text
 * form.  The digest is fed one value at a time, so neither the material
 * nor memory grows with the values (but for one value's send form at a
 * time): a 540 MB value cannot keep a refusal from its record (red team
 * 13, finding 3).  Returns the digest's first 64 bits for the shown
 * statement_hash, 0 without parameters.
 */
uint64
ag_client_params_material(StringInfo m)
{
	ParamListInfo p = client_params();
	pg_cryptohash_ctx *ctx;
	AgKeyDigest d;
	int			i;

	ag_key_add_bytes(m, "parameters", 10);
	ag_key_add_int(m, p == NULL ? 0 : (uint64) p->numParams);
	if (p == NULL)
		return 0;
	ctx = ag_key_stream_begin();
	for (i = 0; i < p->numParams; i++)
	{
		ParamExternData *prm = &p->params[i];
		HeapTuple	tup;
		Oid			send = InvalidOid;
		bool		isvarlena;
		Oid			out;
		StringInfoData head;

		initStringInfo(&head);
		ag_key_add_int(&head, (uint64) prm->ptype);
		if (prm->isnull || !OidIsValid(prm->ptype))
		{
			ag_key_add_int(&head, 0);
			ag_key_stream_add(ctx, head.data, head.len);
			pfree(head.data);
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
			ag_key_add_int(&head, 1);
			ag_key_stream_add(ctx, head.data, head.len);
			ag_key_stream_add_field(ctx, VARDATA(b), VARSIZE(b) - VARHDRSZ);
			pfree(b);
		}
		else
		{
			char	   *s;

			getTypeOutputInfo(prm->ptype, &out, &isvarlena);
			s = OidOutputFunctionCall(out, prm->value);
			ag_key_add_int(&head, 2);
			ag_key_stream_add(ctx, head.data, head.len);
			ag_key_stream_add_field(ctx, s, strlen(s));
			pfree(s);
		}
		pfree(head.data);
	}
	ag_key_stream_end(ctx, &d);
	ag_key_add_bytes(m, d.d, AG_KEY_DIGEST_LEN);
	return ag_key_digest_u64(&d);
}
