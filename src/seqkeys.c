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
 * from anybody) down to a margin of room (below); setval() is gated
 * elsewhere (writers.c, gate.c).
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

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_inherits.h"
#include "commands/defrem.h"
#include "commands/trigger.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_sequence.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "common/int.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "nodes/primnodes.h"
#include "optimizer/optimizer.h"
#include "parser/parse_type.h"
#include "rewrite/rewriteHandler.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "tcop/pquery.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "agent_guard.h"
#include "agentcode.h"
#include "agentgate.h"
#include "owner_spi.h"
#include "compat.h"
#include "refusal.h"
#include "relinfo.h"
#include "scope.h"
#include "seqkeys.h"
#include "session.h"
#include "statement.h"
#include "writers.h"

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

typedef struct AgSeqRoom
{
	uint64		left;			/* values the sequence has yet to issue */
	uint64		margin;			/* the room an agent must leave */
	bool		cycle;
	int64		cache;
	int64		min;			/* its range and step, for a column's type */
	int64		max;
	int64		inc;
	int64		last;			/* its page: the last value, issued or not */
	bool		called;
	int64		next;			/* the value it issues next */
	bool		spent;			/* nothing left to issue */
} AgSeqRoom;

/*
 * A sequence's parameters (syscache) and its page: the value it issues
 * next, or spent when it has issued its last (check_value() and the room
 * below read the same state).  False when it is no sequence (dropped
 * meanwhile) or another session's temporary one.
 */
static bool
sequence_state(Oid seqid, AgSeqRoom *room)
{
	HeapTuple	st;
	Form_pg_sequence seqform;

	st = SearchSysCache1(SEQRELID, ObjectIdGetDatum(seqid));
	if (!HeapTupleIsValid(st))
		return false;
	seqform = (Form_pg_sequence) GETSTRUCT(st);
	room->inc = seqform->seqincrement;
	room->min = seqform->seqmin;
	room->max = seqform->seqmax;
	room->cycle = seqform->seqcycle;
	room->cache = seqform->seqcache;
	ReleaseSysCache(st);
	room->left = room->margin = 0;
	if (!read_sequence(seqid, &room->last, &room->called))
		return false;
	room->next = room->last;
	room->spent = room->called && pg_add_s64_overflow(room->last, room->inc, &room->next);
	if (room->spent)
		room->next = room->inc > 0 ? room->max : room->min;
	if (room->inc > 0 ? room->next > room->max : room->next < room->min)
		room->spent = true;
	return true;
}

static void
check_value(Relation rel, AgRelInfo *info, AgSeqKey *col, int64 value)
{
	AgSeqRoom	room;
	char	   *seqname;
	char	   *issued;
	char	   *why;
	const char *colname;
	const char *text;
	int			len;
	int64		id;

	/* at its end the sequence issues nothing new (or cycles to old keys) */
	if (!sequence_state(col->seqid, &room) || room.spent)
		return;
	if (room.inc > 0 ? (value < room.next || value > room.max) :
		(value > room.next || value < room.min))
		return;

	seqname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(col->seqid)),
										 get_rel_name(col->seqid));
	colname = NameStr(TupleDescAttr(RelationGetDescr(rel), col->attnum - 1)->attname);
	if (room.called)
		issued = psprintf("the last key it issued is " INT64_FORMAT, room.last);
	else
		issued = psprintf("it has issued no key yet (its first is " INT64_FORMAT ")", room.last);
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

/* ---------------------------------------------------------------------
 * Room left in a sequence that numbers a protected table
 * ---------------------------------------------------------------------
 *
 * An agent that draws a human's sequence to its end (nextval() in a loop,
 * or inserts that fail after their defaults drew: an INSERT ... SELECT
 * whose last row breaks a NOT NULL, a DO loop catching its errors) makes
 * every later human insert that takes the default fail with "reached
 * maximum value of sequence", while nothing is written and nothing is on
 * record (red team 32, F2).  So an agent may not draw a sequence that
 * numbers a protected table (a column default or identity of the table,
 * of one of its partitions or inheritance children, draws from it) below
 * a margin: the values left to issue after the draw must stay at least
 * the smaller of 2^30 and half the sequence's range in steps
 * ((MAXVALUE - MINVALUE) / |INCREMENT| / 2).  A column of an integer type
 * narrower than the sequence (a plain bigint sequence filling a smallint
 * key) counts the range the column can take from it instead (red team 34,
 * F10), while the sequence is inside that range: past it the column takes
 * nothing more from the sequence.  A cycling sequence never
 * runs out and is never refused.  The refusal is YG004, on record, and
 * never approvable: an approved draw would burn the same values; a human
 * can widen the sequence or do the write.
 *
 * The common path reads the sequence's parameters (syscache) and its page
 * (as read_sequence() does for the keys above); only a sequence already
 * below the margin, or within a smallint's or an integer's margin of that
 * type's end, costs the catalog look-ups that find the columns it numbers
 * (pg_depend: identity or OWNED BY, column defaults that name it, and the
 * columns of a domain whose default names it, red team 34, F5).  The checks are made before the draw where the guard sees it
 * coming (agent_guard._nextval(), planted in every agent plan in place of
 * nextval(); an identity's draw at the start of the statement that makes
 * it; a COPY FROM's defaults as it starts), and after it per row in the
 * stamp trigger, which fires before the row's constraints are checked, for
 * a statement that crosses the margin as it runs: there the draw is made,
 * so the check keeps one more draw's room and the sequence is left with
 * the margin at least.
 */

#define AG_SEQ_ROOM_CAP (INT64CONST(1) << 30)

/*
 * The nextval() calls a COPY FROM's defaults or an ALTER TABLE's new
 * defaults make without a plan, judged as the statement started
 * (ag_seqroom_copy(), ag_seqroom_default_created()): each such call the
 * executor sets up (the backstop, which sees the function and not its
 * sequence) takes one of nextval_blessings; a call beyond them is refused.
 * They are counted on the expression as the executor gets it (after
 * expression_planner()), so they are exactly the judged calls; and they
 * are set up before the first row is drawn: any call that was not judged
 * (a USING, a WHERE, a CHECK, a domain's default or constraint) makes one
 * too many and is refused before it draws.  An ALTER TABLE blesses one
 * relation only (its set-ups all come before its rows; a second
 * relation's would come after the first one's draws) and only when all
 * its subcommands add columns with no expression but their default
 * (alter_blessable); otherwise, or when a judged default calls nextval()
 * on a sequence not named as a constant, nothing is blessed
 * (nextval_unblessable).  judged_draws: the draws judged so far in the
 * statement, per sequence (N new defaults draw N times the rows).
 */
static int	nextval_blessings = 0;
static bool nextval_unblessable = false;
static bool alter_blessable = false;
static Oid	blessed_relid = InvalidOid;

typedef struct AgJudged
{
	Oid			seqid;
	int64		draws;
} AgJudged;

static List *judged_draws = NIL;	/* of AgJudged, in TopMemoryContext */

/* the COPY FROM being judged may drop rows its defaults drew for (red team 35, F12) */
static bool copy_drops = false;

/* the agent's code with no plan in a human's statement is being judged (F13) */
static bool unplanned_code = false;


static uint64
abs_step(int64 inc)
{
	return inc > 0 ? (uint64) inc : (uint64) 0 - (uint64) inc;
}

/*
 * The room left between the sequence's next value and the end of the range
 * [lo, hi] (its own, or narrowed to a column's type), and the margin of
 * that range.  false when the next value lies outside the range.
 */
static bool
range_room(const AgSeqRoom *room, int64 lo, int64 hi, uint64 *left, uint64 *margin)
{
	uint64		step = abs_step(room->inc);

	lo = Max(lo, room->min);
	hi = Min(hi, room->max);
	if (hi < lo)
		return false;
	*margin = Min(((uint64) hi - (uint64) lo) / step / 2, (uint64) AG_SEQ_ROOM_CAP);
	if (room->spent || room->next > hi || room->next < lo)
	{
		*left = 0;
		return !room->spent ? false : true;
	}
	*left = room->inc > 0 ? ((uint64) hi - (uint64) room->next) / step + 1 :
		((uint64) room->next - (uint64) lo) / step + 1;
	return true;
}

/*
 * The room left in a sequence that numbers a protected table, and its
 * margin; false for a sequence that never runs out (cycling) and one this
 * backend cannot read.
 */
static bool
sequence_room(Oid seqid, AgSeqRoom *room)
{
	if (!sequence_state(seqid, room) ||
		room->cycle || room->inc == 0 || room->max < room->min)
		return false;
	room->left = room->margin = 0;
	(void) range_room(room, room->min, room->max, &room->left, &room->margin);
	if (room->next < room->min || room->next > room->max)
		room->left = 0;
	return true;
}

/* The values an integer column's type holds (any other: the whole range). */
static void
type_range(Oid typid, int64 *lo, int64 *hi)
{
	switch (getBaseType(typid))
	{
		case INT2OID:
			*lo = PG_INT16_MIN;
			*hi = PG_INT16_MAX;
			break;
		case INT4OID:
			*lo = PG_INT32_MIN;
			*hi = PG_INT32_MAX;
			break;
		default:
			*lo = PG_INT64_MIN;
			*hi = PG_INT64_MAX;
			break;
	}
}

/*
 * Would a draw of draws values leave a column of a type narrower than the
 * sequence (lo .. hi) with less than its margin?  Only while the sequence
 * is still inside the type's range: past it, the column takes no value of
 * the sequence any more, whatever an agent draws (red team 34, F10).
 */
static bool
narrow_short(const AgSeqRoom *room, int64 lo, int64 hi, int64 draws, uint64 *left, uint64 *margin)
{
	if (lo <= room->min && hi >= room->max)
		return false;			/* not narrower than the sequence */
	if (room->spent || !range_room(room, lo, hi, left, margin))
		return false;
	return *left < *margin + (uint64) draws;
}

/* A column a sequence numbers, of a protected table. */
typedef struct AgNumbered
{
	Oid			relid;
	AttrNumber	attnum;
	Oid			protected_as;	/* the table, or its protected ancestor */
} AgNumbered;

static void
add_column(List **cols, Oid relid, AttrNumber attnum)
{
	ListCell   *lc;
	AgNumbered *n;

	foreach(lc, *cols)
	{
		n = lfirst(lc);
		if (n->relid == relid && n->attnum == attnum)
			return;
	}
	n = palloc(sizeof(AgNumbered));
	n->relid = relid;
	n->attnum = attnum;
	n->protected_as = InvalidOid;
	*cols = lappend(*cols, n);
}

/*
 * The columns of a domain whose default names the sequence and that have
 * no default of their own, where PostgreSQL applies the domain's (red team
 * 34, F5).  A domain over it copied its default when it was made, so it
 * depends on the sequence itself and is found the same way.
 */
static void
domain_columns(Relation dep, Oid seqid, Oid domain, List **cols)
{
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	Node	   *def;

	if (get_typtype(domain) != TYPTYPE_DOMAIN ||
		(def = get_typdefault(domain)) == NULL || default_sequence(def) != seqid)
		return;
	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(TypeRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(domain));
	scan = systable_beginscan(dep, DependReferenceIndexId, true, NULL, 2, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend d = (Form_pg_depend) GETSTRUCT(tup);
		HeapTuple	att;

		if (d->classid != RelationRelationId || d->objsubid <= 0)
			continue;
		att = SearchSysCache2(ATTNUM, ObjectIdGetDatum(d->objid), Int16GetDatum(d->objsubid));
		if (HeapTupleIsValid(att))
		{
			Form_pg_attribute a = (Form_pg_attribute) GETSTRUCT(att);

			if (a->atttypid == domain && !a->attisdropped && !a->atthasdef &&
				a->attidentity == '\0' && a->attgenerated == '\0')
				add_column(cols, d->objid, (AttrNumber) d->objsubid);
			ReleaseSysCache(att);
		}
	}
	systable_endscan(scan);
}

/*
 * The columns of protected tables a sequence numbers: an identity or
 * OWNED BY column, a column whose default names it, a column of a domain
 * whose default names it; of a table protected itself or through a
 * protected parent.  NIL for none.
 */
static List *
numbered_columns(Oid seqid)
{
	Relation	dep = table_open(DependRelationId, AccessShareLock);
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *cols = NIL;
	List	   *domains = NIL;
	List	   *found = NIL;
	ListCell   *lc;

	/* identity and OWNED BY: the sequence depends on the table's column */
	ScanKeyInit(&key[0], Anum_pg_depend_classid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RelationRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_objid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(seqid));
	scan = systable_beginscan(dep, DependDependerIndexId, true, NULL, 2, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend d = (Form_pg_depend) GETSTRUCT(tup);

		if (d->refclassid == RelationRelationId &&
			(d->deptype == DEPENDENCY_AUTO || d->deptype == DEPENDENCY_INTERNAL))
			add_column(&cols, d->refobjid, (AttrNumber) d->refobjsubid);
	}
	systable_endscan(scan);

	/* a column default that names it, or a domain's */
	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RelationRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(seqid));
	scan = systable_beginscan(dep, DependReferenceIndexId, true, NULL, 2, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend d = (Form_pg_depend) GETSTRUCT(tup);

		if (d->classid == AttrDefaultRelationId)
		{
			ObjectAddress col = GetAttrDefaultColumnAddress(d->objid);

			if (OidIsValid(col.objectId))
				add_column(&cols, col.objectId, (AttrNumber) col.objectSubId);
		}
		else if (d->classid == TypeRelationId)
			domains = list_append_unique_oid(domains, d->objid);
	}
	systable_endscan(scan);
	foreach(lc, domains)
		domain_columns(dep, seqid, lfirst_oid(lc), &cols);
	table_close(dep, AccessShareLock);
	list_free(domains);

	foreach(lc, cols)
	{
		AgNumbered *n = lfirst(lc);

		if (get_rel_relkind(n->relid) == RELKIND_SEQUENCE)
			continue;
		if (ag_relation_protected(n->relid))
			n->protected_as = n->relid;
		else
			n->protected_as = ag_relation_protected_ancestor(n->relid);
		if (OidIsValid(n->protected_as))
			found = lappend(found, n);
	}
	list_free(cols);
	return found;
}

/*
 * Refuse an agent's draw of draws values from seqid when it would leave
 * the sequence that numbers a protected table with less than its margin,
 * or leave a column it numbers, of a type narrower than the sequence, with
 * less than the margin of the values the column can take from it (red
 * team 34, F10).  what names the draw for the message.  unbounded: a draw
 * per row of a COPY FROM that nothing checks per row, refused whenever the
 * sequence numbers a protected table.  In an agent's code run outside its
 * session (a human's statement, autovacuum's ANALYZE: red team 34, F3) the
 * refusal is recorded under the agent, as agentgate.c records its own.
 */
static void
seqroom_judge(Oid seqid, int64 draws, bool unbounded, const char *what)
{
	AgSeqRoom	room;
	AgNumbered *hit = NULL;
	List	   *cols;
	ListCell   *lc;
	uint64		left = 0;
	uint64		margin = 0;
	bool		narrow = false;
	char	   *seqname;
	char	   *tabname;
	char	   *why;
	const char *text;
	int			len;
	int64		id;

	if (draws < 1)
		draws = 1;
	if (!sequence_room(seqid, &room))
		return;
	/* the common path: the sequence and the narrower integer types keep their room */
	if (!unbounded && room.left >= room.margin + (uint64) draws &&
		!narrow_short(&room, PG_INT16_MIN, PG_INT16_MAX, draws, &left, &margin) &&
		!narrow_short(&room, PG_INT32_MIN, PG_INT32_MAX, draws, &left, &margin))
		return;
	cols = numbered_columns(seqid);
	foreach(lc, cols)
	{
		AgNumbered *n = lfirst(lc);
		int64		lo;
		int64		hi;

		if (unbounded || room.left < room.margin + (uint64) draws)
		{
			hit = n;
			left = room.left;
			margin = room.margin;
			break;
		}
		type_range(get_atttype(n->relid, n->attnum), &lo, &hi);
		if (narrow_short(&room, lo, hi, draws, &left, &margin))
		{
			hit = n;
			narrow = true;
			break;
		}
	}
	if (hit == NULL)
	{
		list_free_deep(cols);
		return;
	}

	seqname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(seqid)),
										 get_rel_name(seqid));
	tabname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(hit->relid)),
										 get_rel_name(hit->relid));
	if (!narrow)
		why = psprintf("Sequence %s numbers protected table %s%s (a column's default or identity draws from it); it has "
					   UINT64_FORMAT " values left to issue, and an agent may not draw it below " UINT64_FORMAT
					   " (the smaller of 2^30 and half its range)%s",
					   seqname, tabname,
					   hit->protected_as != hit->relid ? psprintf(" (a part of protected table %s)", ag_qualified_relname(hit->protected_as)) : "",
					   left, margin,
					   unbounded && unplanned_code ? ". A trigger's WHEN, a CHECK or a domain's CHECK of the relation calls nextval() on it with no plan, once per row, and nothing judges each call." :
					   unbounded && copy_drops ? ". COPY FROM draws it once per row it reads, as many rows as the input holds, before its WHERE, ON_ERROR ignore or a BEFORE trigger drops a row, and a dropped row is checked by nothing." :
					   unbounded ? ". COPY FROM draws it once per row it reads, as many rows as the input holds, and no check follows each row: that is made only for a protected table's own key." :
					   ", so that humans' inserts still get keys.");
	else
		why = psprintf("Sequence %s numbers column %s (%s) of protected table %s%s (its default or identity draws from it); it has "
					   UINT64_FORMAT " values left that the column's type holds, and an agent may not draw it below " UINT64_FORMAT
					   " (the smaller of 2^30 and half the range of values the column can take from it), so that humans' inserts still get keys.",
					   seqname, quote_identifier(get_attname(hit->relid, hit->attnum, false)),
					   format_type_be(get_atttype(hit->relid, hit->attnum)), tabname,
					   hit->protected_as != hit->relid ? psprintf(" (a part of protected table %s)", ag_qualified_relname(hit->protected_as)) : "",
					   left, margin);
	(void) ag_current_statement(&text, &len);
	if (!ag_judging())
	{
		/* an agent's code outside its session: on record under the agent */
		ag_agentgate_decide_code(AG_REFUSAL_GUARD, psprintf("%s of sequence %s", what, seqname), why, text, len);
		elog(ERROR, "agent_guard: a draw of sequence %s by code of no agent was judged", seqname);
	}
	/* on record like the gates' refusals: the error ends this transaction */
	id = ag_refusal_record(why, text, text ? Min(len, AG_MAX_QUERY_LOG) : 0);
	ereport(ERROR,
			(errcode(ERRCODE_AG_GUARD_PROTECTED),
			 errmsg("%s of sequence %s refused: it would leave fewer than " UINT64_FORMAT " values for the inserts of table %s (request " INT64_FORMAT ")",
					what, seqname, margin, tabname, id),
			 errdetail("%s", why),
			 unbounded ?
			 errhint("Leave the sequence's column to be filled from the input, or have a human run the COPY.") :
			 narrow ?
			 errhint("A human can widen the column (ALTER TABLE %s ALTER COLUMN %s TYPE bigint) or do the write.",
					 tabname, quote_identifier(get_attname(hit->relid, hit->attnum, false))) :
			 errhint("A human can widen the sequence (ALTER SEQUENCE %s AS bigint, or a larger MAXVALUE) or do the write.",
					 seqname)));
}

void
ag_seqroom_check(Oid seqid, int64 draws, const char *what)
{
	seqroom_judge(seqid, draws, false, what);
}

/* The cache size of a sequence: what one nextval() may take from its page. */
static int64
sequence_cache(Oid seqid)
{
	HeapTuple	st = SearchSysCache1(SEQRELID, ObjectIdGetDatum(seqid));
	int64		cache = 1;

	if (HeapTupleIsValid(st))
	{
		cache = ((Form_pg_sequence) GETSTRUCT(st))->seqcache;
		ReleaseSysCache(st);
	}
	return Max(cache, 1);
}

/* nextval() in an agent's plan (agent_guard._nextval(), policy.c), before it draws. */
void
ag_seqroom_nextval(Oid seqid)
{
	if (get_rel_relkind(seqid) != RELKIND_SEQUENCE)
		return;					/* nextval() reports it */
	ag_seqroom_check(seqid, sequence_cache(seqid), "nextval()");
}

/*
 * An agent's plan as it starts: the identity sequences it draws from
 * (NextValueExpr, which calls no function the guard could wrap), in the
 * statements that can (INSERT, UPDATE ... SET DEFAULT, MERGE, writing
 * CTEs).  Before any row is drawn: a loop of failing inserts is refused
 * before it draws, once the margin is reached.
 */
void
ag_seqroom_plan_starts(PlannedStmt *ps)
{
	AgWriterScan ws = {0};
	ListCell   *lc;

	if (ps->commandType != CMD_INSERT && ps->commandType != CMD_UPDATE &&
		ps->commandType != CMD_MERGE && !ps->hasModifyingCTE)
		return;
	ws.collect_identity = true;
	ag_writers_scan_plan(ps, &ws);
	foreach(lc, ws.identity_seqs)
		ag_seqroom_check(lfirst_oid(lc), sequence_cache(lfirst_oid(lc)), "the identity default's draw");
}

/*
 * An agent's row (stamp trigger, before its constraints): the sequences
 * that number its columns keep one more draw's room than the margin, or
 * the row is refused.  Rows of a statement that crossed the margin as it
 * ran, the draw for this row already made.
 */
void
ag_seqroom_row(Relation rel, AgRelInfo *info)
{
	int			i;

	if (!info->seqkeys_loaded)
		load(rel, info);
	if (info->seqkeys == NULL)
		return;
	for (i = 0; i < info->seqkeys->ncols; i++)
		ag_seqroom_check(info->seqkeys->cols[i].seqid, 1, "the default's draw");
}

/*
 * The nextval() calls a statement sets up without a plan: their sequences
 * (one entry per call), and whether one names its sequence other than as
 * a constant.
 */
static void
unplanned_calls(List *nextval_calls, List **seqs, bool *unnamed)
{
	ListCell   *lc;

	foreach(lc, nextval_calls)
	{
		FuncExpr   *f = lfirst_node(FuncExpr, lc);
		Const	   *c = f->args ? (Const *) linitial(f->args) : NULL;

		if (c != NULL && IsA(c, Const) && !c->constisnull)
			*seqs = lappend_oid(*seqs, DatumGetObjectId(c->constvalue));
		else
			*unnamed = true;
	}
}

/* The blessings of the statement: none from now on. */
static void
unbless(void)
{
	nextval_blessings = 0;
	nextval_unblessable = true;
}

/*
 * A BEFORE ROW INSERT trigger of rel that fires before the stamp trigger
 * (triggers fire in the order of their names): it may drop the row before
 * the stamp trigger judges its draws.
 */
static bool
other_before_insert_trigger(Relation rel)
{
	TriggerDesc *td = rel->trigdesc;
	int			i;

	if (td == NULL || !td->trig_insert_before_row)
		return false;
	for (i = 0; i < td->numtriggers; i++)
	{
		Trigger    *t = &td->triggers[i];

		if (TRIGGER_FOR_ROW(t->tgtype) && TRIGGER_FOR_BEFORE(t->tgtype) &&
			TRIGGER_FOR_INSERT(t->tgtype) && t->tgenabled != TRIGGER_DISABLED &&
			strcmp(t->tgname, "zz_agent_guard_stamp") < 0)
			return true;
	}
	return false;
}

/*
 * Can a COPY FROM into rel read a row, and so draw its defaults, without
 * the row reaching the stamp trigger (which judges the draws of a
 * protected table's key per row)?  PostgreSQL evaluates the defaults as it
 * reads a row, before its WHERE filters it, before ON_ERROR ignore (17+)
 * skips a row whose input failed, and before a BEFORE ROW trigger that
 * fires ahead of the stamp trigger returns NULL: so WHERE false draws a
 * sequence once per row read while keeping none (red team 35, F12).  Any
 * of them, on rel or on one of its partitions or inheritance children
 * (rows routed there), and the COPY is judged as one into a table nothing
 * checks row by row.
 */
static bool
copy_drops_rows(CopyStmt *copy, Relation rel)
{
	ListCell   *lc;
	List	   *kids;
	bool		drops = false;

	if (copy->whereClause != NULL)
		return true;
	foreach(lc, copy->options)
	{
		DefElem    *d = lfirst_node(DefElem, lc);

		if (strcmp(d->defname, "on_error") == 0 || strcmp(d->defname, "reject_limit") == 0)
		{
			char	   *v = d->arg != NULL ? defGetString(d) : NULL;

			if (v == NULL || pg_strcasecmp(v, "stop") != 0)
				return true;
		}
	}
	if (other_before_insert_trigger(rel))
		return true;
	if (!rel->rd_rel->relhassubclass)
		return false;
	kids = find_all_inheritors(RelationGetRelid(rel), AccessShareLock, NULL);
	foreach(lc, kids)
	{
		Relation	kid;

		if (lfirst_oid(lc) == RelationGetRelid(rel))
			continue;
		kid = relation_open(lfirst_oid(lc), AccessShareLock);
		drops = other_before_insert_trigger(kid);
		relation_close(kid, AccessShareLock);
		if (drops)
			break;
	}
	list_free(kids);
	return drops;
}

/*
 * An agent's COPY FROM as it starts: the sequences the defaults of the
 * columns it does not read draw from (all of them with the DEFAULT
 * option, which lets a row take any column's default), whatever table it
 * fills: a default of the agent's own table may draw a human's sequence.
 * COPY evaluates them without a plan, once per row, so no
 * agent_guard._nextval() is planted there, and how many rows it reads is
 * not known.  A sequence that is the whole default of an integer column of
 * a protected table is judged per row by the stamp trigger (after the
 * row's draw, ag_seqroom_row()), and here for its first draw; any other
 * sequence that numbers a protected table is refused outright (red team
 * 34, F1).  The calls judged are blessed, and no other (a WHERE's, a
 * CHECK's, a domain's).
 */
static void seqroom_copy(CopyStmt *copy, bool human);

void
ag_seqroom_copy(CopyStmt *copy)
{
	seqroom_copy(copy, false);
}

/*
 * A human's COPY FROM into an agent's relation (hooks.c, after the
 * statement is on agentcode.c's stack): the agent's defaults draw per row
 * read and nothing checks a human's rows one by one (the stamp trigger
 * judges agents' rows), so a default that draws a sequence numbering a
 * protected table is refused, on record under the agent, as an agent's
 * COPY into its own table is (red team 35: it was judged for its first
 * draw only); its calls are blessed, and no other (a CHECK's, a trigger
 * condition's, a domain's).
 */
void
ag_seqroom_human_copy(CopyStmt *copy)
{
	if (ag_judging() || !ag_agentgate_stored_code_running())
		return;
	ag_seqroom_statement_starts();
	seqroom_copy(copy, true);
}

static void
seqroom_copy(CopyStmt *copy, bool human)
{
	Oid			relid;
	Relation	rel;
	TupleDesc	desc;
	AgWriterScan ws = {0};
	List	   *read = NIL;
	List	   *calls = NIL;
	List	   *per_row = NIL;
	bool		all_read = copy->attlist == NIL;
	bool		unnamed = false;
	bool		protected;
	ListCell   *lc;
	int			i;

	copy_drops = false;
	if (!copy->is_from || copy->relation == NULL ||
		!OidIsValid(relid = RangeVarGetRelid(copy->relation, NoLock, true)))
		return;
	foreach(lc, copy->options)
		if (strcmp(lfirst_node(DefElem, lc)->defname, "default") == 0)
			all_read = false;
	if (all_read)
		return;
	foreach(lc, copy->attlist)
		read = lappend_int(read, get_attnum(relid, strVal(lfirst(lc))));
	protected = !human && (ag_relation_protected(relid) ||
						   OidIsValid(ag_relation_protected_ancestor(relid)));

	ws.collect_nextval = true;
	ws.collect_identity = true;
	rel = relation_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	/* rows read but never stamped: their draws are judged by nothing (red team 35, F12) */
	if (protected && copy_drops_rows(copy, rel))
	{
		protected = false;
		copy_drops = true;
	}
	for (i = 1; i <= desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i - 1);
		Node	   *def;
		Oid			typid;

		if (att->attisdropped || att->attgenerated != '\0' || list_member_int(read, i) ||
			(def = build_column_default(rel, i)) == NULL)
			continue;
		/* the stamp trigger checks a protected table's key per row (load()) */
		typid = getBaseType(att->atttypid);
		if (protected && (typid == INT2OID || typid == INT4OID || typid == INT8OID))
		{
			Oid			seqid = IsA(def, NextValueExpr) ? ((NextValueExpr *) def)->seqid :
				default_sequence(def);

			if (OidIsValid(seqid))
				per_row = list_append_unique_oid(per_row, seqid);
		}
		/* as BeginCopyFrom() sets it up */
		ag_writers_scan_expr((Node *) expression_planner((Expr *) def), &ws);
	}
	relation_close(rel, AccessShareLock);
	unplanned_calls(ws.nextval_calls, &calls, &unnamed);

	foreach(lc, calls)
		ws.identity_seqs = list_append_unique_oid(ws.identity_seqs, lfirst_oid(lc));
	foreach(lc, ws.identity_seqs)
	{
		Oid			seqid = lfirst_oid(lc);

		if (get_rel_relkind(seqid) != RELKIND_SEQUENCE)
			continue;
		if (list_member_oid(per_row, seqid))
			seqroom_judge(seqid, sequence_cache(seqid), false, "COPY FROM's default draw");
		else
			seqroom_judge(seqid, 0, true, "COPY FROM's default draws");
	}
	/* its defaults' nextval() calls, set up without a plan, were judged */
	if (unnamed)
		unbless();
	else
		nextval_blessings = list_length(calls);
}

/*
 * An agent's ALTER TABLE as it starts: the new defaults' calls may be
 * blessed only when every subcommand adds a column whose only expression
 * is its default: no USING, no CHECK, no generated column, no domain
 * (whose default or constraints would be set up unjudged next to the
 * judged calls).
 */
void
ag_seqroom_alter(AlterTableStmt *stmt)
{
	ListCell   *lc;

	alter_blessable = true;
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
		ColumnDef  *col = (ColumnDef *) cmd->def;
		ListCell   *lk;
		Type		typ;

		if (cmd->subtype != AT_AddColumn || col == NULL || !IsA(col, ColumnDef))
		{
			alter_blessable = false;
			return;
		}
		foreach(lk, col->constraints)
		{
			ConstrType	t = lfirst_node(Constraint, lk)->contype;

			if (t != CONSTR_NULL && t != CONSTR_NOTNULL && t != CONSTR_DEFAULT &&
				t != CONSTR_IDENTITY && t != CONSTR_PRIMARY && t != CONSTR_UNIQUE)
			{
				alter_blessable = false;
				return;
			}
		}
		/* serial and the like are no type yet: they are no domain either */
		typ = col->typeName != NULL ? LookupTypeName(NULL, col->typeName, NULL, true) : NULL;
		if (typ != NULL)
		{
			Oid			typid = ((Form_pg_type) GETSTRUCT(typ))->oid;
			Oid			elem = get_element_type(typid);

			ReleaseSysCache(typ);
			if (get_typtype(typid) != TYPTYPE_BASE ||
				(OidIsValid(elem) && get_typtype(elem) != TYPTYPE_BASE))
			{
				alter_blessable = false;
				return;
			}
		}
	}
}

/*
 * A column default an agent's statement stores (OAT_POST_CREATE of the
 * relation's column, hooks.c): ALTER TABLE ... ADD COLUMN evaluates it for
 * every row the table has, without a plan.  Its draws are judged here, as
 * many as the table's pages can hold rows, added to the draws of the same
 * sequence judged before in the statement (red team 34, F2), and its
 * calls are blessed (above) when the statement allows it.
 */
void
ag_seqroom_default_created(Oid relid, AttrNumber attnum)
{
	Relation	rel;
	AgWriterScan ws = {0};
	List	   *calls = NIL;
	ListCell   *lc;
	bool		unnamed = false;
	bool		storage;
	int64		rows;

	if (IsBinaryUpgrade || !ag_judging())
		return;
	ws.collect_nextval = true;
	ws.collect_identity = true;
	/* as ALTER TABLE sets it up */
	ag_writers_scan_new_default(relid, attnum, &ws, true);
	if (ws.nextval_calls == NIL && ws.identity_seqs == NIL)
		return;
	unplanned_calls(ws.nextval_calls, &calls, &unnamed);
	/* at most as many rows as its pages can hold */
	rel = relation_open(relid, AccessShareLock);
	storage = RELKIND_HAS_STORAGE(rel->rd_rel->relkind);
	rows = storage ? (int64) RelationGetNumberOfBlocks(rel) * MaxHeapTuplesPerPage : 0;
	relation_close(rel, AccessShareLock);
	rows = Max(rows, 1);
	foreach(lc, ws.identity_seqs)
		calls = lappend_oid(calls, lfirst_oid(lc));
	foreach(lc, calls)
	{
		Oid			seqid = lfirst_oid(lc);
		AgJudged   *j = NULL;
		ListCell   *lj;

		if (get_rel_relkind(seqid) != RELKIND_SEQUENCE)
			continue;
		foreach(lj, judged_draws)
			if (((AgJudged *) lfirst(lj))->seqid == seqid)
				j = lfirst(lj);
		if (j == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

			j = palloc0(sizeof(AgJudged));
			j->seqid = seqid;
			judged_draws = lappend(judged_draws, j);
			MemoryContextSwitchTo(old);
		}
		j->draws += rows;
		ag_seqroom_check(seqid, j->draws, "the new default's draws");
	}
	/* identity draws are no function calls: only nextval()'s are blessed */
	if (!storage || ws.nextval_calls == NIL)
		return;
	if (unnamed || !alter_blessable || nextval_unblessable ||
		(OidIsValid(blessed_relid) && blessed_relid != relid))
		unbless();
	else
	{
		blessed_relid = relid;
		nextval_blessings += list_length(ws.nextval_calls);
	}
}

/* A statement of an agent's session starts (a plan, a utility statement): no blessing. */
void
ag_seqroom_statement_starts(void)
{
	nextval_blessings = 0;
	nextval_unblessable = false;
	alter_blessable = false;
	blessed_relid = InvalidOid;
	list_free_deep(judged_draws);
	judged_draws = NIL;
}

/*
 * The backstop (object access, hooks.c): a nextval() that no plan of this
 * agent's session shows (its plans call agent_guard._nextval()): a CHECK
 * of a table or a domain, a default ALTER TABLE evaluates that was not
 * judged above, a USING, a COPY's WHERE, a procedure's arguments, a
 * fast-path call.  Which sequence it draws, and how often, is not known
 * here (the executor sets the call up once, then draws through it per
 * row): refused (YG004), but for the calls of the COPY FROM or ALTER TABLE
 * judged as it started, one blessing each.
 */
/* The expressions of rel set up with no plan in a statement that writes it. */
static void
scan_unplanned_code(Relation rel, AgWriterScan *ws)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TupleConstr *constr = desc->constr;
	int			i;

	if (constr != NULL)
		for (i = 0; i < constr->num_check; i++)
			ag_writers_scan_expr(stringToNode(constr->check[i].ccbin), ws);
	if (rel->trigdesc != NULL)
		for (i = 0; i < rel->trigdesc->numtriggers; i++)
			if (rel->trigdesc->triggers[i].tgqual != NULL)
				ag_writers_scan_expr(stringToNode(rel->trigdesc->triggers[i].tgqual), ws);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		DomainConstraintRef *ref;
		ListCell   *lc;

		if (att->attisdropped || get_typtype(att->atttypid) != TYPTYPE_DOMAIN)
			continue;
		/*
		 * the CHECKs of the domain and of the domains under it; the
		 * reference lives in the context it is registered with (its reset
		 * callback points at it), not on the stack
		 */
		ref = palloc(sizeof(DomainConstraintRef));
		InitDomainConstraintRef(att->atttypid, ref, CurrentMemoryContext, false);
		foreach(lc, ref->constraints)
		{
			DomainConstraintState *c = lfirst(lc);

			if (c->constrainttype == DOM_CONSTRAINT_CHECK)
				ag_writers_scan_expr((Node *) c->check_expr, ws);
		}
	}
}

/*
 * A nextval() set up with no plan in a human's statement that runs an
 * agent's stored code (red team 35, F13): the trigger WHENs, CHECKs and
 * domain CHECKs of the agent's relation (and of its partitions and
 * children) are where it can come from.  Their sequences are judged as a
 * draw per row that nothing checks: one that numbers a protected table is
 * refused (YG004, on record under the agent), before anything is drawn.
 * Returns whether every such call names its sequence (then the call
 * passes: the human's own calls, and the agent's on sequences no
 * protected table needs).
 */
static bool
judge_unplanned_code(Oid relid)
{
	AgWriterScan ws = {0};
	List	   *rels;
	List	   *seqs = NIL;
	ListCell   *lc;
	bool		unnamed = false;

	ws.collect_nextval = true;
	rels = get_rel_relkind(relid) == RELKIND_VIEW ? list_make1_oid(relid) :
		find_all_inheritors(relid, AccessShareLock, NULL);
	foreach(lc, rels)
	{
		Relation	rel = relation_open(lfirst_oid(lc), AccessShareLock);

		scan_unplanned_code(rel, &ws);
		relation_close(rel, AccessShareLock);
	}
	unplanned_calls(ws.nextval_calls, &seqs, &unnamed);
	unplanned_code = true;
	PG_TRY();
	{
		foreach(lc, seqs)
			if (get_rel_relkind(lfirst_oid(lc)) == RELKIND_SEQUENCE)
				seqroom_judge(lfirst_oid(lc), 0, true, "nextval()");
	}
	PG_FINALLY();
	{
		unplanned_code = false;
	}
	PG_END_TRY();
	return !unnamed;
}

#define UNPLANNED_WHY "nextval() is called outside a statement's plan (a constraint, a USING or WHERE clause, a domain's default, a procedure's arguments, a fast-path call), where agent_guard cannot see which sequence it draws, nor keep the room left in a sequence that numbers a protected table."

void
ag_seqroom_function_execute(Oid funcid)
{
	const char *text;
	int			len;

	if (funcid != F_NEXTVAL)
		return;
	if (!ag_judging())
	{
		/*
		 * an agent's code in a human's statement: its function's, or its
		 * stored code's (a trigger's WHEN, a CHECK, a domain's CHECK or
		 * default of its relation the statement writes, red team 35, F13),
		 * refused on record under the agent; the human's own calls pass
		 */
		Oid			relid;

		if (ag_owner_running() ||
			!((ag_agentcode_running() && !ag_owner_running()) || ag_agentgate_stored_code_running()))
			return;
		if (nextval_blessings > 0 && ActivePortal != NULL)
		{
			nextval_blessings--;
			return;
		}
		/* its stored code: the sequences it can draw with no plan, judged */
		if (!ag_agentcode_running() &&
			OidIsValid(relid = ag_agentcode_running_code_relation()) &&
			judge_unplanned_code(relid))
			return;
		(void) ag_current_statement(&text, &len);
		ag_agentgate_decide_code(AG_REFUSAL_GUARD, "nextval()", UNPLANNED_WHY, text, len);
		return;
	}
	if (nextval_blessings > 0 && ActivePortal != NULL)
	{
		nextval_blessings--;
		return;
	}
	(void) ag_current_statement(&text, &len);
	ag_refuse(AG_REFUSAL_GUARD, "nextval()", UNPLANNED_WHY, text, len, 0);
}
