/*-------------------------------------------------------------------------
 * width.c
 *		How wide a protected table's rows and index entries can get: the
 *		structure changes of an agent that would make humans' writes fail
 *		for their size (red team 30, findings 1 and 2).
 *
 * PostgreSQL refuses a row that does not fit in a heap page after TOAST
 * ("row is too big") and an index entry longer than its access method
 * takes ("index row size ... exceeds maximum").  Neither is checked when
 * the structure is changed: ADD COLUMN of many fixed-width columns with a
 * default (kept in attmissingval, so the table is not rewritten) makes
 * every new row version too big, humans' inserts and updates, the
 * rollback's replay and a dump's restore included; a B-tree index on a
 * text column refuses every value over 2,704 bytes.  So an agent's change
 * to a protected table's columns is judged on the columns as the change
 * left them (reach.c calls us when the statement ends, whatever path made
 * the change: several ADD COLUMNs, SET STORAGE, SET DEFAULT, a parent's
 * ALTER passed down), and an agent's index on one on its key's types.
 *
 * The row estimate is an upper bound of what a row humans may write takes
 * after TOAST has done what it can, not counting what nobody can bound:
 *	- every fixed-width column, set or not (attlen, aligned);
 *	- a variable-length column TOAST may move out of line (storage
 *	  EXTENDED, EXTERNAL or MAIN, in a table that has a TOAST table): its
 *	  pointer, MAXALIGN(TOAST_POINTER_SIZE) bytes (less when its type's
 *	  modifier bounds it lower);
 *	- any other variable-length column (PLAIN, or a table without a TOAST
 *	  table): its type modifier's bound (varchar(n), char(n), bit(n): what
 *	  type_maximum_size() says), else the width of the value every row
 *	  carries without a human's choosing: its default (or its domain's),
 *	  its missing value (attmissingval: rows that existed when the column
 *	  was added, written out in full by their next update and by a dump),
 *	  64 bytes for a default that is not a constant;
 *	- the tuple header and a null bitmap for every column (dropped ones
 *	  included).
 * More than AG_WIDTH_ROW_LIMIT (half of MaxHeapTupleSize) needs approval:
 * the other half is the room humans' own values in unbounded PLAIN
 * columns, their own later columns and the estimate's slack keep.  So does
 * a table with more than AG_WIDTH_COLUMN_LIMIT columns (counting dropped
 * ones, which PostgreSQL never gives back): at MaxHeapAttributeNumber
 * humans can no longer add a column, and a query of two such tables' rows
 * passes MaxTupleAttributeNumber.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tupmacs.h"
#include "catalog/indexing.h"
#include "catalog/pg_am.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_sequence.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/primnodes.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "agent_guard.h"
#include "agentcode.h"
#include "scope.h"
#include "width.h"

/* the limits the guard keeps an agent's changes under (README, "Structure") */
#define AG_WIDTH_ROW_LIMIT (MaxHeapTupleSize / 2)
#define AG_WIDTH_COLUMN_LIMIT (MaxHeapAttributeNumber / 2)
/* a default that is not a constant, in a column TOAST cannot move out */
#define AG_WIDTH_UNKNOWN_DEFAULT 64
/* what TOAST leaves in the row for a value it moves out */
#define AG_WIDTH_TOAST_POINTER ((int32) MAXALIGN(TOAST_POINTER_SIZE))

/*
 * The longest entry the access methods take, as their error messages
 * print it: B-tree's (version 4: three to a page, with room for a heap
 * TID), GIN's (about the same), BRIN's (one to a page).  An index tuple's
 * header and null bitmap take AG_WIDTH_INDEX_HEADER of it.
 */
#define AG_WIDTH_PAGE_THIRD \
	MAXALIGN_DOWN((BLCKSZ - MAXALIGN(SizeOfPageHeaderData + 3 * sizeof(ItemIdData)) - MAXALIGN(16)) / 3)
#define AG_WIDTH_BTREE_MAX (AG_WIDTH_PAGE_THIRD - MAXALIGN(6))
#define AG_WIDTH_BRIN_MAX \
	MAXALIGN_DOWN(BLCKSZ - MAXALIGN(SizeOfPageHeaderData + sizeof(ItemIdData)) - MAXALIGN(8))
#define AG_WIDTH_INDEX_HEADER MAXALIGN(8 + 4)

/* The width of a value of a column (a varlena's as stored, uncompressed). */
static int32
value_width(Datum d, int16 attlen)
{
	if (attlen > 0)
		return attlen;
	if (attlen == -1)
		return (int32) VARSIZE_ANY(DatumGetPointer(d));
	return (int32) strlen(DatumGetCString(d)) + 1;
}

/* A default expression's width: a constant's, else -1 (unknown). */
static int32
default_width(Node *expr, int16 attlen)
{
	while (expr != NULL)
	{
		if (IsA(expr, RelabelType))
			expr = (Node *) ((RelabelType *) expr)->arg;
		else if (IsA(expr, CoerceToDomain))
			expr = (Node *) ((CoerceToDomain *) expr)->arg;
		else
			break;
	}
	if (expr == NULL)
		return 0;
	if (!IsA(expr, Const))
		return -1;
	if (((Const *) expr)->constisnull)
		return 0;
	return value_width(((Const *) expr)->constvalue, attlen);
}

/*
 * The widths of the defaults of relid's columns (0: none or NULL, -1: not a
 * constant), as the running command left them.
 */
static int32 *
default_widths(Oid relid, int natts_max)
{
	int32	   *w = palloc0((natts_max + 1) * sizeof(int32));
	Relation	rel = table_open(AttrDefaultRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	ScanKeyInit(&key, Anum_pg_attrdef_adrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, AttrDefaultIndexId, true, SnapshotSelf, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_attrdef d = (Form_pg_attrdef) GETSTRUCT(tup);
		bool		isnull;
		Datum		bin;
		Node	   *expr;

		if (d->adnum <= 0 || d->adnum > natts_max)
			continue;
		bin = heap_getattr(tup, Anum_pg_attrdef_adbin, RelationGetDescr(rel), &isnull);
		if (isnull)
			continue;
		expr = stringToNode(TextDatumGetCString(bin));
		w[d->adnum] = default_width(expr, get_typlen(exprType(expr)));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return w;
}

/* The relation's TOAST table and kind, as the running command left them. */
static void
class_now(Oid relid, Oid *toast, char *relkind)
{
	Relation	rel = table_open(RelationRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	*toast = InvalidOid;
	*relkind = '\0';
	ScanKeyInit(&key, Anum_pg_class_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, ClassOidIndexId, true, SnapshotSelf, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		*toast = ((Form_pg_class) GETSTRUCT(tup))->reltoastrelid;
		*relkind = ((Form_pg_class) GETSTRUCT(tup))->relkind;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/* The width of a column's missing value (rows older than the column), or 0. */
static int32
missing_width(HeapTuple tup, TupleDesc desc, Form_pg_attribute a)
{
	bool		isnull;
	Datum		arr;
	Datum		v;
	int			one = 1;

	if (!a->atthasmissing)
		return 0;
	arr = heap_getattr(tup, Anum_pg_attribute_attmissingval, desc, &isnull);
	if (isnull)
		return 0;
	v = array_get_element(arr, 1, &one, -1, a->attlen, a->attbyval, a->attalign, &isnull);
	return isnull ? 0 : value_width(v, a->attlen);
}

AgRefusalKind
ag_width_row(Oid relid, char **why)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			toast;
	char		relkind;
	int32	   *defaults;
	int			natts = 0;
	Size		off = 0;
	Size		total;

	if (!ag_relation_protected(relid))
		return AG_REFUSAL_NONE;
	class_now(relid, &toast, &relkind);
	if (relkind != RELKIND_RELATION)
		return AG_REFUSAL_NONE; /* a partitioned table's rows are its partitions' */
	defaults = default_widths(relid, MaxHeapAttributeNumber);

	rel = table_open(AttributeRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_attribute_attrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, AttributeRelidNumIndexId, true, SnapshotSelf, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_attribute a = (Form_pg_attribute) GETSTRUCT(tup);
		int32		bound;
		int32		value;
		int32		w;

		if (a->attnum <= 0)
			continue;
		natts = Max(natts, a->attnum);
		if (a->attisdropped)
			continue;
		if (a->attlen > 0)
		{
			off = att_align_nominal(off, a->attalign) + a->attlen;
			continue;
		}
		bound = type_maximum_size(a->atttypid, a->atttypmod);
		if (OidIsValid(toast) && a->attstorage != TYPSTORAGE_PLAIN)
			w = (bound >= 0 && bound < AG_WIDTH_TOAST_POINTER) ? bound : AG_WIDTH_TOAST_POINTER;
		else
		{
			value = a->attnum <= MaxHeapAttributeNumber ? defaults[a->attnum] : 0;
			if (value == 0 && !a->atthasdef)
			{
				/* a domain's default is the column's when it has none */
				Node	   *dd = get_typdefault(a->atttypid);

				value = dd ? default_width(dd, a->attlen) : 0;
			}
			if (value < 0)
				value = AG_WIDTH_UNKNOWN_DEFAULT;
			value = Max(value, missing_width(tup, RelationGetDescr(rel), a));
			w = Max(bound, value);
		}
		if (w > 0)
			off = att_align_nominal(off, a->attalign) + w;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	pfree(defaults);

	total = MAXALIGN(SizeofHeapTupleHeader + BITMAPLEN(natts)) + MAXALIGN(off);
	if (total > AG_WIDTH_ROW_LIMIT)
	{
		*why = psprintf("a row of protected table %s could take %zu bytes by the guard's estimate, more than %zu, half of what a heap page holds (%zu): humans' inserts and updates, rollback_run() and the restore of a dump could fail with \"row is too big\"",
						ag_qualified_relname(relid), total, (Size) AG_WIDTH_ROW_LIMIT,
						(Size) MaxHeapTupleSize);
		return AG_REFUSAL_APPROVAL;
	}
	if (natts > AG_WIDTH_COLUMN_LIMIT)
	{
		*why = psprintf("protected table %s would have %d columns (dropped ones count), more than %d, half of PostgreSQL's limit (%d): humans could no longer add columns of their own, and their queries of its rows with another table's could pass the limit of a result row",
						ag_qualified_relname(relid), natts, AG_WIDTH_COLUMN_LIMIT,
						MaxHeapAttributeNumber);
		return AG_REFUSAL_APPROVAL;
	}
	return AG_REFUSAL_NONE;
}

/*
 * An index's key of these types, in access method am (one of the system's:
 * an operator class that is not the system's needs approval anyway).
 * Measured on PostgreSQL 15 (README, "Structure of a protected table"):
 * B-tree refuses an entry over 2,704 bytes (8 kB pages), GIN an array
 * element over 2,712, BRIN a summary (its minimum and maximum) over 8,152,
 * GiST and SP-GiST a range over about 8,000; hash keeps a hash code, GIN's
 * jsonb and tsvector classes hash or skip long keys, SP-GiST's text class
 * splits long values: those never fail for a value's length.  Compression
 * is not counted on: an incompressible value does not shrink.
 */
const char *
ag_width_index_key(Oid am, int n, const Oid *types, const int32 *typmods)
{
	Size		sum = AG_WIDTH_INDEX_HEADER;
	Size		limit;
	int			factor = 1;
	int			i;

	switch (am)
	{
		case BTREE_AM_OID:
			limit = AG_WIDTH_BTREE_MAX;
			break;
		case BRIN_AM_OID:
			limit = AG_WIDTH_BRIN_MAX;
			factor = 2;			/* the least and the greatest value */
			break;
		case GIST_AM_OID:
		case SPGIST_AM_OID:
			for (i = 0; i < n; i++)
			{
				Oid			base = getBaseType(types[i]);
				Oid			sub = InvalidOid;

				if (type_is_range(base))
					sub = get_range_subtype(base);
				else if (type_is_multirange(base))
					sub = get_range_subtype(get_multirange_range(base));
				if (OidIsValid(sub) && get_typlen(sub) < 0)
					return psprintf("a key of type %s, whose bounds have no length limit: an index entry holds the whole range, and one longer than a page refuses the humans' write",
									format_type_be(types[i]));
			}
			return NULL;
		case GIN_AM_OID:
			for (i = 0; i < n; i++)
			{
				Oid			elem = get_element_type(getBaseType(types[i]));
				int32		bound;

				if (!OidIsValid(elem) || get_typlen(elem) > 0)
					continue;
				bound = type_maximum_size(elem, typmods[i]);
				if (bound < 0 || bound + AG_WIDTH_INDEX_HEADER > AG_WIDTH_BTREE_MAX)
					return psprintf("a key of type %s, whose elements can be longer than the %zu bytes a GIN entry holds: humans' writes of such an element would fail",
									format_type_be(types[i]), (Size) AG_WIDTH_BTREE_MAX);
			}
			return NULL;
		default:
			return NULL;
	}
	for (i = 0; i < n; i++)
	{
		int16		len;
		bool		byval;
		char		align;
		int32		w;

		get_typlenbyvalalign(types[i], &len, &byval, &align);
		w = len > 0 ? len : type_maximum_size(types[i], typmods[i]);

		if (w < 0)
			return psprintf("a key of type %s, whose values have no length limit: %s entry holds at most %zu bytes, and humans' writes of longer values would fail",
							format_type_be(types[i]), am == BTREE_AM_OID ? "a B-tree" : "a BRIN",
							(Size) limit);
		sum = att_align_nominal(sum, align) + (Size) w * factor;
	}
	if (sum > limit)
		return psprintf("a key that can take %zu bytes, more than the %zu %s entry holds: humans' writes of such values would fail",
						sum, (Size) limit, am == BTREE_AM_OID ? "a B-tree" : "a BRIN");
	return NULL;
}

/* ---------------------------------------------------------------------
 * A sequence a protected column's default draws from (red team 30,
 * finding 3)
 *
 * nextval() in a default runs in every insert that leaves the column out,
 * with the inserter's rights, and fails once the sequence is used up.  A
 * sequence the column owns was taken as safe; but an agent that owns the
 * table makes one (CREATE SEQUENCE ... OWNED BY, or ADD COLUMN ... serial)
 * that humans may not use, or that is nearly used up (MAXVALUE, START,
 * RESTART, INCREMENT, AS smallint, a column type narrower than the
 * sequence's).  Such a sequence, an agent role's, passes only when every
 * role that may insert into the table (its grantees of INSERT on the table
 * or on a column, PUBLIC included, and its owner) may use it (USAGE or
 * UPDATE), it does not cycle, and it has at least AG_WIDTH_SEQUENCE_ROOM
 * more values that fit the column's type.  A sequence a human made is the
 * human's.
 * ---------------------------------------------------------------------
 */
#define AG_WIDTH_SEQUENCE_ROOM (INT64CONST(1) << 30)

/* The sequence's last value and whether it was handed out, as now. */
static bool
sequence_position(Oid seq, int64 *last, bool *called)
{
	Relation	rel = relation_open(seq, AccessShareLock);
	bool		ok = false;

	if (rel->rd_rel->relkind == RELKIND_SEQUENCE && RelationGetNumberOfBlocks(rel) > 0)
	{
		Buffer		buf = ReadBuffer(rel, 0);
		Page		page;
		ItemId		lp;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		lp = PageGetItemId(page, FirstOffsetNumber);
		if (PageGetMaxOffsetNumber(page) >= FirstOffsetNumber && ItemIdIsNormal(lp))
		{
			HeapTupleHeader th = (HeapTupleHeader) PageGetItem(page, lp);
			Form_pg_sequence_data d = (Form_pg_sequence_data) ((char *) th + th->t_hoff);

			*last = d->last_value;
			*called = d->is_called;
			ok = true;
		}
		UnlockReleaseBuffer(buf);
	}
	relation_close(rel, AccessShareLock);
	return ok;
}

/* The greatest and least value of an integer type, false for others. */
static bool
integer_range(Oid typid, int64 *min, int64 *max)
{
	switch (getBaseType(typid))
	{
		case INT2OID:
			*min = PG_INT16_MIN;
			*max = PG_INT16_MAX;
			return true;
		case INT4OID:
			*min = PG_INT32_MIN;
			*max = PG_INT32_MAX;
			return true;
		case INT8OID:
			*min = PG_INT64_MIN;
			*max = PG_INT64_MAX;
			return true;
		default:
			return false;
	}
}

/* An ACL's items: a one-dimensional array without nulls (acl.c). */
static AclItem *
acl_items(Acl *acl)
{
	if (ARR_NDIM(acl) != 1 || ARR_HASNULL(acl))
		return NULL;
	return (AclItem *) (((char *) acl) + ARR_OVERHEAD_NONULLS(1));
}

/* A role with INSERT on the table that may not use the sequence, or NULL. */
static char *
inserter_without_usage(Oid relid, Oid seq)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	HeapTuple	stup = SearchSysCache1(RELOID, ObjectIdGetDatum(seq));
	List	   *acls = NIL;
	Acl		   *seqacl;
	bool		public_uses = false;
	bool		isnull;
	Datum		d;
	ListCell   *lc;
	int			att;
	int			natts;
	char	   *found = NULL;

	if (!HeapTupleIsValid(tup) || !HeapTupleIsValid(stup))
		elog(ERROR, "cache lookup failed for relation %u or %u", relid, seq);
	d = SysCacheGetAttr(RELOID, tup, Anum_pg_class_relacl, &isnull);
	acls = lappend(acls, isnull ? acldefault(OBJECT_TABLE, ((Form_pg_class) GETSTRUCT(tup))->relowner) :
				   DatumGetAclPCopy(d));
	natts = ((Form_pg_class) GETSTRUCT(tup))->relnatts;
	d = SysCacheGetAttr(RELOID, stup, Anum_pg_class_relacl, &isnull);
	seqacl = isnull ? acldefault(OBJECT_SEQUENCE, ((Form_pg_class) GETSTRUCT(stup))->relowner) :
		DatumGetAclPCopy(d);
	ReleaseSysCache(tup);
	ReleaseSysCache(stup);
	/* a column's INSERT lets its grantee insert rows that leave this one out */
	for (att = 1; att <= natts; att++)
	{
		HeapTuple	atup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(att));

		if (!HeapTupleIsValid(atup))
			continue;
		d = SysCacheGetAttr(ATTNUM, atup, Anum_pg_attribute_attacl, &isnull);
		if (!isnull)
			acls = lappend(acls, DatumGetAclPCopy(d));
		ReleaseSysCache(atup);
	}
	{
		AclItem    *items = acl_items(seqacl);
		int			i;

		for (i = 0; items != NULL && i < ACL_NUM(seqacl); i++)
			if (items[i].ai_grantee == ACL_ID_PUBLIC &&
				(ACLITEM_GET_PRIVS(items[i]) & (ACL_USAGE | ACL_UPDATE)) != 0)
				public_uses = true;
	}
	foreach(lc, acls)
	{
		Acl		   *acl = lfirst(lc);
		AclItem    *items = acl_items(acl);
		int			i;

		for (i = 0; items != NULL && i < ACL_NUM(acl) && found == NULL; i++)
		{
			Oid			grantee = items[i].ai_grantee;

			if ((ACLITEM_GET_PRIVS(items[i]) & ACL_INSERT) == 0)
				continue;
			if (grantee == ACL_ID_PUBLIC)
			{
				if (!public_uses)
					found = pstrdup("PUBLIC");
			}
			else if (!public_uses &&
					 pg_class_aclcheck(seq, grantee, ACL_USAGE) != ACLCHECK_OK &&
					 pg_class_aclcheck(seq, grantee, ACL_UPDATE) != ACLCHECK_OK)
				found = GetUserNameFromId(grantee, true) ?
					pstrdup(quote_identifier(GetUserNameFromId(grantee, true))) :
					psprintf("role %u", grantee);
		}
	}
	return found;
}

static Oid
rel_owner(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner = InvalidOid;

	if (HeapTupleIsValid(tup))
	{
		owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
		ReleaseSysCache(tup);
	}
	return owner;
}

const char *
ag_width_sequence_unsafe(Oid seq, Oid relid, Oid coltype)
{
	HeapTuple	tup;
	Form_pg_sequence s;
	int64		last;
	bool		called;
	int64		min;
	int64		max;
	int64		cmin;
	int64		cmax;
	int64		next;
	int128		left;
	char	   *role;
	const char *name = get_rel_name(seq) ? get_rel_name(seq) : "?";

	if (!ag_agentcode_role_is_agent(rel_owner(seq)))
		return NULL;
	tup = SearchSysCache1(SEQRELID, ObjectIdGetDatum(seq));
	if (!HeapTupleIsValid(tup))
		return psprintf("draws from \"%s\", which is not a sequence PostgreSQL knows", name);
	s = (Form_pg_sequence) GETSTRUCT(tup);
	min = s->seqmin;
	max = s->seqmax;
	if (s->seqcycle)
	{
		ReleaseSysCache(tup);
		return psprintf("draws from sequence \"%s\", an agent's, which cycles (humans' rows would get values given before)", name);
	}
	/* the column's type narrows what the sequence can give */
	if (OidIsValid(coltype) && integer_range(coltype, &cmin, &cmax))
	{
		min = Max(min, cmin);
		max = Min(max, cmax);
	}
	if (!sequence_position(seq, &last, &called))
	{
		ReleaseSysCache(tup);
		return psprintf("draws from sequence \"%s\", an agent's, whose position the guard cannot read", name);
	}
	next = last;
	if (s->seqincrement > 0)
		left = called ? ((int128) max - last) / s->seqincrement : ((int128) max - next) / s->seqincrement + 1;
	else
		left = called ? ((int128) last - min) / -(int128) s->seqincrement :
			((int128) next - min) / -(int128) s->seqincrement + 1;
	ReleaseSysCache(tup);
	if (left < AG_WIDTH_SEQUENCE_ROOM)
		return psprintf("draws from sequence \"%s\", an agent's, which has %s more values that fit the column (fewer than %lld)",
						name, left < 0 ? "no" : psprintf(INT64_FORMAT, (int64) left),
						(long long) AG_WIDTH_SEQUENCE_ROOM);
	role = inserter_without_usage(relid, seq);
	if (role != NULL)
		return psprintf("draws from sequence \"%s\", an agent's, which %s may not use, though it may insert into the table",
						name, role);
	return NULL;
}
