/*-------------------------------------------------------------------------
 * seqkeys.c
 *		An agent may not take the keys a sequence has yet to issue.
 *
 * A protected table whose key column takes its default from a sequence
 * (serial, bigserial, GENERATED ... AS IDENTITY, DEFAULT nextval('s')) is
 * written by humans who let the default draw the key.  An agent that
 * inserts rows with explicit keys the sequence has not issued yet (its last
 * value + 1 .. + 100000) makes every one of those human inserts fail with a
 * unique violation until the sequence has passed them: a denial against
 * humans, who keep their power whatever an agent does (red team 4, finding
 * 12).  So an agent's write to a protected table, by any path that writes a
 * row (INSERT, ON CONFLICT, MERGE, COPY FROM, an UPDATE that changes the
 * column), is refused (YG004, on record) when a column whose default draws
 * from a sequence gets a value that sequence has yet to issue: between its
 * next value and its end (MAXVALUE; for a descending sequence, between
 * MINVALUE and its next value).  Values it has issued stay the agent's to
 * write: a key taken by the default, a soft-deleted row's key inserted
 * again.  Beyond the sequence's end nothing is ever issued, so nothing is
 * refused there.  nextval() stays allowed (it burns keys, it takes none
 * from anybody); setval() is gated elsewhere (writers.c, gate.c).
 *
 * The check runs in the capture trigger (capture.c), which fires for
 * agents' writes only, on the row as written after every BEFORE trigger.
 * Humans pay nothing, and neither do tables with no such column after
 * the first write: which columns draw from which sequence is found once
 * and kept with the relation's other cached facts (relinfo.h), dropped by
 * the same relcache invalidation (a default or identity changed, the
 * table altered).  For a partition, the defaults of the partition and of
 * each of its ancestors count (a write through a parent takes the
 * parent's); a default changed with ALTER TABLE ONLY on an intermediate
 * parent is seen at the partition's next invalidation.  Then per row and
 * per such column: the sequence's parameters from the syscache, and its
 * last value read from its one page under a shared buffer lock, as
 * pg_sequence_last_value() does, with no privilege check: an agent that
 * may not use the sequence still may not take its keys.
 *
 * Only integer columns (smallint, integer, bigint, and domains over them)
 * whose default is nextval() of a named sequence, possibly cast, are
 * covered: the column's own default, or with none the default of its
 * domain (which PostgreSQL applies then; a domain's default changed by
 * ALTER DOMAIN is seen at the table's next invalidation); a default that computes something from nextval() (a text key
 * 'INV-' || nextval('s'), an offset) is not.  "Issued" is what the sequence's
 * page says: with CACHE above 1 a session takes a block of keys at once,
 * and the unused keys of a human session's block count as issued (nothing
 * records which of them are used); with CACHE 1 only a key drawn by a
 * human's statement that has not inserted its row yet does, for that
 * moment.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "catalog/dependency.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_sequence.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "common/int.h"
#include "nodes/primnodes.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "agent_guard.h"
#include "compat.h"
#include "refusal.h"
#include "relinfo.h"
#include "session.h"
#include "statement.h"

/* a column numbered by a sequence, in the relation the trigger fires on */
typedef struct AgSeqKey
{
	AttrNumber	attnum;
	Oid			typid;			/* INT2OID, INT4OID or INT8OID */
	Oid			seqid;
} AgSeqKey;

typedef struct AgSeqKeys
{
	int			ncols;
	AgSeqKey	cols[FLEXIBLE_ARRAY_MEMBER];
} AgSeqKeys;

/* the special space of a sequence's page (sequence.c's sequence_magic) */
typedef struct AgSequenceMagic
{
	uint32		magic;
} AgSequenceMagic;

#define AG_SEQ_MAGIC 0x1717

/*
 * The sequence a column default draws from: nextval() of a constant
 * regclass, under casts only; InvalidOid for anything else.
 */
static Oid
default_sequence(Node *expr)
{
	while (expr != NULL)
	{
		if (IsA(expr, RelabelType))
			expr = (Node *) ((RelabelType *) expr)->arg;
		else if (IsA(expr, CoerceToDomain))
			expr = (Node *) ((CoerceToDomain *) expr)->arg;
		else if (IsA(expr, FuncExpr) &&
				 ((FuncExpr *) expr)->funcformat != COERCE_EXPLICIT_CALL &&
				 list_length(((FuncExpr *) expr)->args) == 1)
			expr = (Node *) linitial(((FuncExpr *) expr)->args);	/* a cast */
		else
			break;
	}
	if (expr != NULL && IsA(expr, FuncExpr) &&
		((FuncExpr *) expr)->funcid == F_NEXTVAL &&
		list_length(((FuncExpr *) expr)->args) == 1)
	{
		Const	   *c = (Const *) linitial(((FuncExpr *) expr)->args);

		if (IsA(c, Const) && !c->constisnull && c->consttype == REGCLASSOID)
			return DatumGetObjectId(c->constvalue);
	}
	return InvalidOid;
}

/*
 * Add the columns of src (the relation itself or an ancestor) whose
 * default draws from a sequence, as columns of rel.
 */
static void
collect(Relation src, Relation rel, AgSeqKey *cols, int *ncols)
{
	TupleDesc	desc = RelationGetDescr(src);
	TupleConstr *constr = desc->constr;
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Oid			typid;
		Oid			seqid = InvalidOid;
		AttrNumber	attnum;
		int			j;

		if (att->attisdropped || att->attgenerated != '\0')
			continue;
		typid = getBaseType(att->atttypid);
		if (typid != INT2OID && typid != INT4OID && typid != INT8OID)
			continue;
		if (att->attidentity != '\0')
			seqid = AG_IDENTITY_SEQUENCE(src, att->attnum);
		else if (att->atthasdef && constr != NULL)
		{
			for (j = 0; j < constr->num_defval; j++)
			{
				if (constr->defval[j].adnum == att->attnum)
				{
					seqid = default_sequence(stringToNode(constr->defval[j].adbin));
					break;
				}
			}
		}
		else
		{
			/*
			 * No default of its own: the one of its domain, which PostgreSQL
			 * applies then (red team 33, finding 8)
			 */
			Node	   *typdef = get_typdefault(att->atttypid);

			if (typdef != NULL)
				seqid = default_sequence(typdef);
		}
		if (!OidIsValid(seqid) || get_rel_relkind(seqid) != RELKIND_SEQUENCE)
			continue;

		attnum = src == rel ? att->attnum :
			get_attnum(RelationGetRelid(rel), NameStr(att->attname));
		if (attnum <= 0)
			continue;
		for (j = 0; j < *ncols; j++)
			if (cols[j].attnum == attnum && cols[j].seqid == seqid)
				break;
		if (j < *ncols)
			continue;
		cols[*ncols].attnum = attnum;
		cols[*ncols].typid = getBaseType(TupleDescAttr(RelationGetDescr(rel), attnum - 1)->atttypid);
		cols[*ncols].seqid = seqid;
		(*ncols)++;
	}
}

static void
load(Relation rel, AgRelInfo *info)
{
	AgSeqKey   *cols;
	int			ncols = 0;
	int			max;
	List	   *ancestors = NIL;
	ListCell   *lc;

	if (info->seqkeys != NULL)
	{
		pfree(info->seqkeys);
		info->seqkeys = NULL;
	}

	if (rel->rd_rel->relispartition)
		ancestors = get_partition_ancestors(RelationGetRelid(rel));
	/* each relation adds at most one entry per column of rel */
	max = RelationGetDescr(rel)->natts * (1 + list_length(ancestors));
	cols = palloc(sizeof(AgSeqKey) * Max(max, 1));
	collect(rel, rel, cols, &ncols);
	foreach(lc, ancestors)
	{
		Relation	parent = relation_open(lfirst_oid(lc), AccessShareLock);

		collect(parent, rel, cols, &ncols);
		relation_close(parent, AccessShareLock);
	}

	if (ncols > 0)
	{
		/* kept with the session's other caches, freed at the next load */
		AgSeqKeys  *keys = MemoryContextAlloc(ag_session_memory(),
											  offsetof(AgSeqKeys, cols) + sizeof(AgSeqKey) * ncols);

		keys->ncols = ncols;
		memcpy(keys->cols, cols, sizeof(AgSeqKey) * ncols);
		info->seqkeys = keys;
	}
	pfree(cols);
	info->seqkeys_loaded = true;
}

static int64
int_value(Datum d, Oid typid)
{
	switch (typid)
	{
		case INT2OID:
			return (int64) DatumGetInt16(d);
		case INT4OID:
			return (int64) DatumGetInt32(d);
		case INT8OID:
			return DatumGetInt64(d);
	}
	elog(ERROR, "agent_guard: unexpected type %u of a sequence key", typid);
	return 0;					/* keep compiler quiet */
}

/*
 * The sequence's last value and whether it was issued, read from its page
 * as pg_sequence_last_value() does.  False for another session's
 * temporary sequence, which this backend cannot read.
 */
static bool
read_sequence(Oid seqid, int64 *last, bool *called)
{
	Relation	seqrel = relation_open(seqid, AccessShareLock);
	Buffer		buf;
	Page		page;
	ItemId		lp;
	HeapTupleData tup;
	Form_pg_sequence_data seq;

	if (seqrel->rd_rel->relkind != RELKIND_SEQUENCE)
		elog(ERROR, "agent_guard: \"%s\" is not a sequence", RelationGetRelationName(seqrel));
	if (RELATION_IS_OTHER_TEMP(seqrel))
	{
		relation_close(seqrel, NoLock);
		return false;
	}
	buf = ReadBuffer(seqrel, 0);
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	if (((AgSequenceMagic *) PageGetSpecialPointer(page))->magic != AG_SEQ_MAGIC)
		elog(ERROR, "bad magic number in sequence \"%s\"", RelationGetRelationName(seqrel));
	lp = PageGetItemId(page, FirstOffsetNumber);
	if (!ItemIdIsNormal(lp))
		elog(ERROR, "no tuple in sequence \"%s\"", RelationGetRelationName(seqrel));
	tup.t_data = (HeapTupleHeader) PageGetItem(page, lp);
	tup.t_len = ItemIdGetLength(lp);
	seq = (Form_pg_sequence_data) GETSTRUCT(&tup);
	*last = seq->last_value;
	*called = seq->is_called;
	UnlockReleaseBuffer(buf);
	relation_close(seqrel, NoLock);
	return true;
}

static void
check_value(Relation rel, AgRelInfo *info, AgSeqKey *col, int64 value)
{
	HeapTuple	st;
	Form_pg_sequence seqform;
	int64		inc;
	int64		min;
	int64		max;
	int64		last;
	int64		next;
	bool		called;
	char	   *seqname;
	char	   *issued;
	char	   *why;
	const char *colname;
	const char *text;
	int			len;
	int64		id;

	st = SearchSysCache1(SEQRELID, ObjectIdGetDatum(col->seqid));
	if (!HeapTupleIsValid(st))
		elog(ERROR, "cache lookup failed for sequence %u", col->seqid);
	seqform = (Form_pg_sequence) GETSTRUCT(st);
	inc = seqform->seqincrement;
	min = seqform->seqmin;
	max = seqform->seqmax;
	ReleaseSysCache(st);

	if (!read_sequence(col->seqid, &last, &called))
		return;
	next = last;
	/* at its end the sequence issues nothing new (or cycles to old keys) */
	if (called && (pg_add_s64_overflow(last, inc, &next) || next > max || next < min))
		return;
	if (inc > 0 ? (value < next || value > max) : (value > next || value < min))
		return;

	seqname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(col->seqid)),
										 get_rel_name(col->seqid));
	colname = NameStr(TupleDescAttr(RelationGetDescr(rel), col->attnum - 1)->attname);
	if (called)
		issued = psprintf("the last key it issued is " INT64_FORMAT, last);
	else
		issued = psprintf("it has issued no key yet (its first is " INT64_FORMAT ")", last);
	why = psprintf("Column \"%s\" of table %s takes its default from sequence %s, and %s; "
				   INT64_FORMAT " is a key it has yet to issue, and a human's insert that takes the default would fail on it.",
				   colname, info->relname, seqname, issued, value);
	(void) ag_current_statement(&text, &len);
	/* on record like the gates' refusals: the error ends this transaction */
	id = ag_refusal_record(why, text, text ? Min(len, AG_MAX_QUERY_LOG) : 0);
	ereport(ERROR,
			(errcode(ERRCODE_AG_GUARD_PROTECTED),
			 errmsg("key " INT64_FORMAT " of column \"%s\" of \"%s\" refused: its sequence has yet to issue it (request " INT64_FORMAT ")",
					value, colname, RelationGetRelationName(rel), id),
			 errdetail("%s", why),
			 errhint("Leave the column out so that its default draws the key, or have a human move sequence %s past it with setval().",
					 seqname)));
}

/*
 * An agent's row written to a protected table (newtup; oldtup for an
 * UPDATE, whose unchanged keys are not checked again): refuse a key a
 * sequence has yet to issue.
 */
void
ag_seqkeys_check(Relation rel, AgRelInfo *info, HeapTuple oldtup, HeapTuple newtup)
{
	TupleDesc	desc;
	int			i;

	if (!info->seqkeys_loaded)
		load(rel, info);
	if (info->seqkeys == NULL)
		return;

	desc = RelationGetDescr(rel);
	for (i = 0; i < info->seqkeys->ncols; i++)
	{
		AgSeqKey   *col = &info->seqkeys->cols[i];
		bool		isnull;
		Datum		d = heap_getattr(newtup, col->attnum, desc, &isnull);
		int64		value;

		if (isnull)
			continue;
		value = int_value(d, col->typid);
		if (oldtup != NULL)
		{
			bool		oldnull;
			Datum		od = heap_getattr(oldtup, col->attnum, desc, &oldnull);

			if (!oldnull && int_value(od, col->typid) == value)
				continue;
		}
		check_value(rel, info, col, value);
	}
}
