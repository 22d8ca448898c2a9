/*-------------------------------------------------------------------------
 * reach.c
 *		The backstop behind the statement classifier: every relation and
 *		column a statement drops, empties, renames, moves, retypes or
 *		detaches, as PostgreSQL's object-access hook reports it, judged as
 *		the direct act would be.
 *
 * The classifier (classify.c, gate.c) judges a statement by the names it
 * gives, resolved before the statement runs.  What the statement reaches
 * is more: DROP COLLATION/FUNCTION/TYPE/EXTENSION ... CASCADE drops the
 * columns that use them, TRUNCATE ... CASCADE empties the tables whose
 * foreign keys point in, a parent's TRUNCATE, DROP ... CASCADE or ALTER
 * COLUMN TYPE reaches its inheritance children, ALTER TYPE ... CASCADE the
 * typed tables, DROP EXTENSION its member tables, ALTER SCHEMA RENAME
 * every table in the schema, ALTER INDEX/VIEW/SEQUENCE t RENAME a table,
 * and a name resolved twice can resolve to another table the second time
 * (a concurrent rename between the check and the lock).  PostgreSQL calls
 * the object-access hook for each object it really drops (OAT_DROP),
 * empties (OAT_TRUNCATE, after the list is expanded and locked) or alters
 * (OAT_POST_ALTER), the way sepgsql sees them; an alter is told apart by
 * comparing the catalog row before the command (the syscache, whose
 * invalidation waits for the next CommandCounterIncrement) with the row
 * as the command left it (SnapshotSelf).
 *
 * Each such act on a relation outside the agent's scratch space (scope.c)
 * gets the direct statement's decision:
 *	approval (YG003): dropping or emptying a table, view or materialized
 *		view, dropping or retyping a column; detaching a partition or
 *		child from a table that is not scratch; renaming or moving a
 *		protected table, renaming its columns or its schema; renaming or
 *		moving what a protected table relies on (a type, collation,
 *		sequence, function, operator class), or renaming the schema that
 *		holds it; dropping (through CASCADE) an object of another class
 *		that a role owns whose rights the agent does not have (red team
 *		30, findings 11 and 9);
 *	refused (YG004): a relation made, renamed or moved, in a schema the
 *		agent does not own, with the name of a protected table in another
 *		schema (red team 30, finding 4); dropping, renaming or retyping a
 *		stamp column of a protected table, changing its owner, switching
 *		its row security off, making it, or an object it relies on, a
 *		member of an extension (DROP EXTENSION would drop it, pg_dump would
 *		leave it out), removing its capture trigger.
 * What a parent's ALTER TABLE, CREATE INDEX or CREATE TRIGGER passes down
 * to a protected inheritance child or partition (an index, constraint,
 * trigger, column or default PostgreSQL creates on it, a column made NOT
 * NULL, given an identity or storage PLAIN, its key dropped with the
 * parent's) gets the direct act's decision (structure.c); a protected
 * table's key dropped while the table stays is refused when the statement
 * ends.
 * A protected table's column default, row-security policy or rule that a
 * drop reaches (DROP FUNCTION/SEQUENCE/TYPE/SCHEMA ... CASCADE, DROP OWNED)
 * while the table stays gets the direct act's decision when the statement
 * ends (a policy or rule refused, a key or NOT NULL column's default
 * approval), as its triggers and key do; and a new owner (ALTER ... OWNER
 * TO, REASSIGN OWNED) of what a protected table relies on is refused
 * (structure.c, red team 9).
 * A foreign key created to a protected table, by whatever path (a name
 * resolved to another table between the check and the lock), gets the
 * classifier's decision on declaring one (structure.c): refused when it
 * cascades or sets values, else approval.  A protected table put into a
 * publication, by whatever path, and new options of a publication that
 * ships one, are refused (see "Publications" below).
 * Refusals are raised at once.  Acts that need approval are collected for
 * the statement (a frame per ProcessUtility call; nested statements have
 * their own) and decided when it ends, before it can commit: one request
 * names everything the statement reached, and its approval is bound to
 * exactly that (the objects' oids go into the request's hash), so an
 * approval given for one set of objects never lets the same text act on
 * another.  What the statement's own verdict was approved for (its named,
 * resolved targets, their partitions, a dropped schema's contents) is
 * covered by that approval.  A statement that commits inside (CALL,
 * DETACH CONCURRENTLY) is decided before each commit, and an act outside
 * any frame at once.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "compat.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/index.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_publication.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_publication_rel.h"
#ifdef AG_HAVE_PUBLICATION_SCHEMAS
#include "catalog/pg_publication_namespace.h"
#endif
#include "catalog/pg_rewrite.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_ts_config.h"
#include "catalog/pg_ts_dict.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "agent_guard.h"
#include "gate.h"
#include "reach.h"
#include "refusal.h"
#include "scope.h"
#include "statement.h"
#include "structure.h"
#include "width.h"

/* An act on a relation that needs a human's approval. */
typedef struct ReachItem
{
	Oid			relid;
	int			attnum;
	int			act;			/* ReachAct */
	char	   *desc;			/* for the request's reason */
	Oid			classid;		/* the object renamed, moved or dropped, when */
	Oid			objid;			/* it is not the relation itself (else 0) */
} ReachItem;

typedef enum ReachAct
{
	REACH_DROP,
	REACH_DROP_COLUMN,
	REACH_TRUNCATE,
	REACH_RETYPE,
	REACH_RENAME,
	REACH_MOVE,
	REACH_RENAME_COLUMN,
	REACH_DETACH,
	REACH_SCHEMA_RENAME,
	REACH_FOREIGN_KEY,
	REACH_STRUCTURE,
	REACH_RESTART,
	REACH_RELIED_NAME,
	REACH_FOREIGN_DROP,
	REACH_WIDTH
} ReachAct;

/*
 * A default, policy or rule of a protected relation that a statement
 * drops (through CASCADE: the function, sequence, type or schema it used).
 */
typedef struct ReachDependent
{
	Oid			classid;		/* AttrDefaultRelationId, PolicyRelationId, ... */
	Oid			objid;
	Oid			relid;
	int			attnum;			/* a default's column */
	char	   *desc;			/* "policy p on table t" */
	List	   *above;			/* an index's partitioned ancestors */
} ReachDependent;

/* One utility statement running (ProcessUtility), innermost first. */
typedef struct ReachFrame
{
	struct ReachFrame *outer;
	const char *text;
	int			len;
	const char *what;
	AgKeyDigest binding;		/* the statement's own resolved names */
	List	   *covered;		/* relations its approved verdict named */
	List	   *covered_nsps;	/* schemas an approved DROP SCHEMA named */
	List	   *items;			/* ReachItem *: acts that need approval */
	List	   *guard_rels;		/* relations whose capture trigger it dropped */
	List	   *unguarded;		/* ... of which the trigger was the table's own */
	List	   *unkeyed;		/* protected relations whose key it dropped */
	List	   *untriggered;	/* protected relations whose trigger it dropped */
	List	   *dependents;		/* ReachDependent *: defaults, policies, rules of
								 * protected relations it dropped */
	char	   *reowned;		/* why: it gave away what a protected table relies on */
	List	   *widened;		/* protected tables whose columns it added or
								 * changed: their width is judged at the end */
	List	   *retyped;		/* columns its ALTER ... TYPE names (USING may rewrite a
								 * column to the type it has) */
	LocalTransactionId lxid;	/* the transaction it started in */
	bool		approved;		/* a human approved its verdict */
	bool		subcommand;		/* run by the statement of the frame outside */
	bool		pub_options;	/* an ALTER PUBLICATION ... SET (options) */
	bool		restart_seqs;	/* a TRUNCATE ... RESTART IDENTITY */
} ReachFrame;

static ReachFrame *frames = NULL;
static MemoryContext reach_cxt = NULL;

static bool
is_stamp_column(const char *name)
{
	return name != NULL && (strcmp(name, "ag_agent_id") == 0 || strcmp(name, "ag_run_id") == 0 ||
							strcmp(name, "ag_deleted_at") == 0);
}

/* ---------------------------------------------------------------------
 * Frames
 * ---------------------------------------------------------------------
 */

/*
 * A utility statement starts (u: the classifier's verdict, which the gates
 * let through, or NULL when the statement is not judged).
 */
void
ag_reach_enter(Node *parsetree, const AgUtility *u, const char *text, int len)
{
	MemoryContext old;
	ReachFrame *f;

	if (reach_cxt == NULL)
		reach_cxt = AllocSetContextCreate(TopMemoryContext, "agent_guard reach",
										  ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(reach_cxt);
	f = palloc0(sizeof(ReachFrame));
	f->outer = frames;
	f->text = text;
	f->len = len;
	f->what = parsetree ? pstrdup(CreateCommandName(parsetree)) : "statement";
	f->lxid = AG_MY_LXID;
	if (parsetree != NULL && IsA(parsetree, TruncateStmt))
		f->restart_seqs = ((TruncateStmt *) parsetree)->restart_seqs;
	if (parsetree != NULL && IsA(parsetree, AlterPublicationStmt))
		f->pub_options = ((AlterPublicationStmt *) parsetree)->options != NIL;
	if (parsetree != NULL && IsA(parsetree, AlterTableStmt))
	{
		ListCell   *lc;

		foreach(lc, ((AlterTableStmt *) parsetree)->cmds)
		{
			AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

			if (cmd->subtype == AT_AlterColumnType && cmd->name != NULL)
				f->retyped = lappend(f->retyped, pstrdup(cmd->name));
		}
	}
	if (u != NULL)
	{
		f->binding = u->binding;
		f->subcommand = u->subcommand;
		f->approved = (u->verdict == AG_REFUSAL_APPROVAL && u->approved);
		if (u->verdict == AG_REFUSAL_APPROVAL && u->approved)
		{
			/* a human approved it, for what it named */
			f->covered = list_copy(u->targets);
			if (parsetree != NULL && IsA(parsetree, DropStmt) &&
				((DropStmt *) parsetree)->removeType == OBJECT_SCHEMA)
			{
				ListCell   *lc;

				foreach(lc, ((DropStmt *) parsetree)->objects)
				{
					Oid			nsp = get_namespace_oid(strVal(lfirst(lc)), true);

					if (OidIsValid(nsp))
						f->covered_nsps = lappend_oid(f->covered_nsps, nsp);
				}
			}
		}
	}
	MemoryContextSwitchTo(old);
	frames = f;
}

/* The statement ends, whichever way. */
void
ag_reach_leave(void)
{
	if (frames == NULL)
		return;
	frames = frames->outer;
	if (frames == NULL)
		MemoryContextReset(reach_cxt);
}

static int
item_cmp(const ListCell *a, const ListCell *b)
{
	const ReachItem *x = lfirst(a);
	const ReachItem *y = lfirst(b);

	if (x->relid != y->relid)
		return x->relid < y->relid ? -1 : 1;
	if (x->attnum != y->attnum)
		return x->attnum < y->attnum ? -1 : 1;
	if (x->act != y->act)
		return x->act - y->act;
	if (x->classid != y->classid)
		return x->classid < y->classid ? -1 : 1;
	if (x->objid != y->objid)
		return x->objid < y->objid ? -1 : 1;
	return 0;
}

/*
 * Decide on acts that need approval: one request for all of them, bound to
 * their objects.  Items are cleared once decided (approved).
 */
static void
decide_items(const char *what, const char *text, int len, const AgKeyDigest *binding,
			 List *items)
{
	StringInfoData why;
	StringInfoData m;
	AgKeyDigest h;
	List	   *sorted;
	ListCell   *lc;
	const char *prev = NULL;

	if (items == NIL)
		return;
	sorted = list_copy(items);
	list_sort(sorted, item_cmp);
	initStringInfo(&why);
	initStringInfo(&m);
	ag_key_add_bytes(&m, binding->d, AG_KEY_DIGEST_LEN);
	ag_key_add_bytes(&m, "reached", 7);
	appendStringInfoString(&why, "It reaches beyond what it names:");
	foreach(lc, sorted)
	{
		ReachItem  *it = lfirst(lc);

		ag_key_add_int(&m, (uint64) it->relid);
		ag_key_add_int(&m, (uint64) (int64) it->attnum);
		ag_key_add_int(&m, (uint64) it->act);
		if (OidIsValid(it->objid))
		{
			/* bound to the object too, not only to the table that relies on it */
			ag_key_add_int(&m, (uint64) it->classid);
			ag_key_add_int(&m, (uint64) it->objid);
		}
		if (prev && strcmp(prev, it->desc) == 0)
			continue;
		appendStringInfo(&why, "%s %s", prev ? ";" : "", it->desc);
		prev = it->desc;
	}
	appendStringInfoChar(&why, '.');
	ag_key_digest(&m, &h);
	ag_gate_decide_bound(AG_REFUSAL_APPROVAL, what, why.data, text, len, &h);
	list_free(sorted);
}

/*
 * A relation that is still there and has neither a primary key nor a
 * replica identity index (ALTER ... TYPE re-creates the key it drops).
 */
static bool
relation_keyless(Oid relid)
{
	Relation	rel = try_relation_open(relid, AccessShareLock);
	bool		keyless;

	if (rel == NULL)
		return false;
	keyless = !OidIsValid(AG_PRIMARY_KEY_INDEX(rel)) && !OidIsValid(RelationGetReplicaIndex(rel));
	relation_close(rel, AccessShareLock);
	return keyless;
}

static bool
relation_exists(Oid relid)
{
	return get_rel_name(relid) != NULL;
}

/*
 * Refuse the statement if a relation of the list is still as the test
 * says (the table kept), naming it between before and after; the list is
 * done with.
 */
static void
refuse_kept(ReachFrame *f, List **rels, bool (*kept) (Oid), const char *before,
			const char *after)
{
	ListCell   *lc;

	foreach(lc, *rels)
	{
		Oid			relid = lfirst_oid(lc);

		if (kept(relid))
			ag_refuse(AG_REFUSAL_GUARD, f->what,
					  psprintf("%s%s%s", before, ag_qualified_relname(relid), after),
					  f->text, f->len, 0);
	}
	list_free(*rels);
	*rels = NIL;
}

static void decide_dependents(ReachFrame *f);
static void decide_widths(ReachFrame *f);

static void
frame_decide(ReachFrame *f)
{
	/* the guard's own trigger removed, its table kept */
	refuse_kept(f, &f->unguarded, relation_exists,
				"It removes the guard's capture trigger from protected table ", ".");
	/* the key the log identifies rows by dropped (through a parent), the table kept */
	refuse_kept(f, &f->unkeyed, relation_keyless,
				"It drops the key by which the log identifies the rows of protected table ", ".");
	/* a trigger of a protected table dropped (with its parent's), the table kept */
	refuse_kept(f, &f->untriggered, relation_exists,
				"It drops a trigger of protected table ",
				": its triggers are part of its structure, which a human may have relied on; only a human may drop one.");
	decide_dependents(f);
	decide_widths(f);
	if (f->reowned != NULL)
	{
		char	   *why = f->reowned;

		f->reowned = NULL;
		ag_refuse(AG_REFUSAL_GUARD, f->what, why, f->text, f->len, 0);
	}
	if (f->items != NIL)
	{
		decide_items(f->what, f->text, f->len, &f->binding, f->items);
		f->items = NIL;			/* approved */
	}
}

/* The statement ran: decide on what it reached, before it can commit. */
void
ag_reach_decide(void)
{
	if (frames != NULL &&
		(frames->items != NIL || frames->unguarded != NIL || frames->unkeyed != NIL ||
		 frames->untriggered != NIL || frames->dependents != NIL || frames->reowned != NULL ||
		 frames->widened != NIL))
		frame_decide(frames);
}

/* A commit inside a running statement (CALL, DETACH CONCURRENTLY, ...). */
static void
reach_xact_callback(XactEvent event, void *arg)
{
	ReachFrame *f;

	if (event != XACT_EVENT_PRE_COMMIT || frames == NULL)
		return;
	for (f = frames; f != NULL; f = f->outer)
	{
		frame_decide(f);
		f->lxid = InvalidLocalTransactionId;	/* from now on: at once */
	}
}

void
ag_reach_init(void)
{
	RegisterXactCallback(reach_xact_callback, NULL);
}

/* ---------------------------------------------------------------------
 * Judging one act
 * ---------------------------------------------------------------------
 */
static bool relation_protected(Oid relid);
static bool covered(ReachFrame *f, Oid relid);
static bool structure_covered(Oid relid);

/*
 * The statement added or changed columns (or defaults) of relid: if it is
 * protected, judge how wide its rows can get when the statement ends, on
 * the columns as it left them (width.c; red team 30, finding 1).  Several
 * ADD COLUMNs in a row, SET DEFAULT, SET STORAGE, ALTER TYPE and a
 * parent's ALTER passed down all come here.
 */
static void
mark_widened(Oid relid)
{
	MemoryContext old;

	if (frames == NULL || !relation_protected(relid) ||
		list_member_oid(frames->widened, relid))
		return;
	old = MemoryContextSwitchTo(reach_cxt);
	frames->widened = lappend_oid(frames->widened, relid);
	MemoryContextSwitchTo(old);
}

/*
 * How wide the rows of the tables the statement widened can get: approval
 * when a row humans may write could come near what a page holds (width.c),
 * unless a human approved the statement for the table already.
 */
static void
decide_widths(ReachFrame *f)
{
	List	   *rels = f->widened;
	ListCell   *lc;

	f->widened = NIL;
	foreach(lc, rels)
	{
		Oid			relid = lfirst_oid(lc);
		char	   *why = NULL;

		if (!relation_exists(relid) || covered(f, relid) || structure_covered(relid))
			continue;
		if (ag_width_row(relid, &why) == AG_REFUSAL_APPROVAL)
		{
			MemoryContext old = MemoryContextSwitchTo(reach_cxt);
			ReachItem  *it = palloc0(sizeof(ReachItem));

			it->relid = relid;
			it->attnum = 0;
			it->act = REACH_WIDTH;
			it->desc = pstrdup(why);
			f->items = lappend(f->items, it);
			MemoryContextSwitchTo(old);
		}
	}
	list_free(rels);
}

static bool
guard_trigger_dropped(Oid relid)
{
	ReachFrame *f;

	for (f = frames; f != NULL; f = f->outer)
		if (list_member_oid(f->guard_rels, relid))
			return true;
	return false;
}

static bool
relation_protected(Oid relid)
{
	return ag_relation_protected(relid) || guard_trigger_dropped(relid);
}

/*
 * Did the statement's approved verdict cover this relation: name it, name
 * the schema it drops, or name the partitioned table it is a partition of?
 * A protected table the agent attached under a table of its own is not
 * covered by that table's approval: the human approved emptying or
 * dropping what the request named.
 */
static bool
covered(ReachFrame *f, Oid relid)
{
	if (f == NULL || (f->covered == NIL && f->covered_nsps == NIL))
		return false;
	if (list_member_oid(f->covered, relid) ||
		list_member_oid(f->covered_nsps, get_rel_namespace(relid)))
		return true;
	if (get_rel_relispartition(relid))
	{
		List	   *ancestors = get_partition_ancestors(relid);
		bool		protected = relation_protected(relid);
		ListCell   *lc;

		foreach(lc, ancestors)
			if (list_member_oid(f->covered, lfirst_oid(lc)) &&
				(!protected || relation_protected(lfirst_oid(lc))))
				return true;
	}
	return false;
}

/*
 * Did the statement's approved verdict, or that of the statement it is a
 * subcommand of, cover this change to protected table relid's structure:
 * name it, or name a protected table it inherits from (whose verdict was
 * the same act on a protected table)?  A parent that is not protected
 * covers nothing: its approval was not for the protected child.
 */
static bool
structure_covered(Oid relid)
{
	ReachFrame *f;

	for (f = frames; f != NULL; f = f->subcommand ? f->outer : NULL)
	{
		ListCell   *lc;

		if (!f->approved)
			continue;
		if (list_member_oid(f->covered, relid))
			return true;
		foreach(lc, f->covered)
		{
			Oid			c = lfirst_oid(lc);

			if (relation_protected(c) && has_subclass(c) &&
				list_member_oid(find_all_inheritors(c, NoLock, NULL), relid))
				return true;
		}
	}
	return false;
}

static void
refuse_now(const char *why)
{
	const char *text = frames ? frames->text : NULL;
	int			len = frames ? frames->len : 0;

	ag_refuse(AG_REFUSAL_GUARD, frames ? frames->what : "statement", why, text, len, 0);
}

static void need_approval_of(Oid relid, int attnum, ReachAct act, char *desc,
							 Oid classid, Oid objid);

/* An act that needs approval: for the statement's end, or now. */
static void
need_approval(Oid relid, int attnum, ReachAct act, char *desc)
{
	need_approval_of(relid, attnum, act, desc, InvalidOid, InvalidOid);
}

/* The same, for an act on another object (classid, objid) that reaches relid. */
static void
need_approval_of(Oid relid, int attnum, ReachAct act, char *desc, Oid classid, Oid objid)
{
	ReachFrame *f = frames;
	MemoryContext old;
	ReachItem  *it;

	if (covered(f, relid))
		return;
	if (f == NULL || f->lxid != AG_MY_LXID)
	{
		const char *text;
		int			len;
		ReachItem	one = {relid, attnum, act, desc, classid, objid};
		static const AgKeyDigest unbound = {{0}};

		text = f ? f->text : NULL;
		len = f ? f->len : 0;
		if (f == NULL)
			(void) ag_current_statement(&text, &len);
		decide_items(f ? f->what : "statement", text, len, f ? &f->binding : &unbound,
					 list_make1(&one));
		return;
	}
	old = MemoryContextSwitchTo(reach_cxt);
	it = palloc0(sizeof(ReachItem));
	it->relid = relid;
	it->attnum = attnum;
	it->act = act;
	it->desc = pstrdup(desc);
	it->classid = classid;
	it->objid = objid;
	f->items = lappend(f->items, it);
	MemoryContextSwitchTo(old);
}

static const char *
relkind_word(char relkind)
{
	switch (relkind)
	{
		case RELKIND_VIEW:
			return "view";
		case RELKIND_MATVIEW:
			return "materialized view";
		case RELKIND_FOREIGN_TABLE:
			return "foreign table";
		default:
			return "table";
	}
}

static bool
droppable_kind(char relkind)
{
	return relkind == RELKIND_RELATION || relkind == RELKIND_PARTITIONED_TABLE ||
		relkind == RELKIND_FOREIGN_TABLE || relkind == RELKIND_MATVIEW ||
		relkind == RELKIND_VIEW;
}

static bool
table_kind(char relkind)
{
	return relkind == RELKIND_RELATION || relkind == RELKIND_PARTITIONED_TABLE ||
		relkind == RELKIND_FOREIGN_TABLE;
}

static Oid	protected_user(Oid relid, int attnum);

/*
 * The relation is dropped (attnum 0) or one of its columns, or an
 * attribute of a composite type (DROP FUNCTION, COLLATION, TYPE, DOMAIN,
 * EXTENSION, SCHEMA ... CASCADE of what the attribute's type or collation
 * relies on; ALTER TYPE ... DROP ATTRIBUTE): the field goes from every
 * value of the type, from the rows of a protected table whose column uses
 * it (directly, or through an array, domain, range or composite type) too.
 * Approval, as ALTER TYPE ... DROP ATTRIBUTE (red team 20a, finding 2).
 */
static void
reach_drop(Oid relid, int attnum)
{
	char		relkind = get_rel_relkind(relid);
	bool		protected;
	char	   *name;

	if (attnum == 0 ? !droppable_kind(relkind) :
		!(table_kind(relkind) || relkind == RELKIND_COMPOSITE_TYPE))
		return;
	name = ag_qualified_relname(relid);
	if (ag_in_guard_schema(relid))
		refuse_now(psprintf("%s belongs to agent_guard.", name));
	protected = relation_protected(relid);
	if (!protected && ag_relation_exempt(relid))
		return;
	if (attnum == 0)
	{
		need_approval(relid, 0, REACH_DROP,
					  psprintf("it drops %s%s %s", protected ? "protected " : "",
							   relkind_word(relkind), name));
		return;
	}
	else
	{
		char	   *col = get_attname(relid, attnum, true);

		if (col == NULL)
			return;
		if (protected && is_stamp_column(col))
			refuse_now(psprintf("Column \"%s\" of %s is a stamp column of the guard.", col, name));
		if (relkind == RELKIND_COMPOSITE_TYPE)
		{
			Oid			user = protected_user(relid, attnum);

			need_approval(relid, attnum, REACH_DROP_COLUMN,
						  OidIsValid(user) ?
						  psprintf("it drops attribute \"%s\" of type %s, which protected table %s uses: the field goes from every row, humans' data in it too",
								   col, name, ag_qualified_relname(user)) :
						  psprintf("it drops attribute \"%s\" of type %s", col, name));
			return;
		}
		need_approval(relid, attnum, REACH_DROP_COLUMN,
					  psprintf("it drops column \"%s\" of %s%s", col,
							   protected ? "protected table " : "", name));
	}
}

/*
 * A table is emptied (TRUNCATE, its CASCADE, a parent's TRUNCATE); with
 * RESTART IDENTITY the sequences its columns own restart too: one that
 * numbers the rows of a protected table needs approval, the table emptied
 * scratch or not, as ALTER SEQUENCE ... RESTART of it (red team 20a,
 * finding 7; gate.c judges the tables the statement names).
 */
static void
reach_truncate(Oid relid)
{
	bool		protected = relation_protected(relid);
	char	   *name = ag_qualified_relname(relid);

	if (ag_in_guard_schema(relid))
		refuse_now(psprintf("%s belongs to agent_guard.", name));
	if (frames != NULL && frames->restart_seqs)
	{
		Oid			seq = InvalidOid;
		Oid			user = ag_structure_owned_sequence_user(relid, &seq);

		if (OidIsValid(user))
			need_approval(relid, 0, REACH_RESTART,
						  psprintf("it restarts sequence %s, which a column of %s owns and which numbers the rows of protected table %s",
								   ag_qualified_relname(seq), name, ag_qualified_relname(user)));
	}
	if (!protected && ag_relation_exempt(relid))
		return;
	need_approval(relid, 0, REACH_TRUNCATE,
				  psprintf("it empties %stable %s", protected ? "protected " : "", name));
}

/* The catalog row as this command left it (not yet visible to others). */
static HeapTuple
row_now(Oid catalog, Oid index, int nkeys, ScanKey keys)
{
	Relation	rel = table_open(catalog, AccessShareLock);
	SysScanDesc scan = systable_beginscan(rel, index, true, SnapshotSelf, nkeys, keys);
	HeapTuple	tup = systable_getnext(scan);

	tup = HeapTupleIsValid(tup) ? heap_copytuple(tup) : NULL;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return tup;
}

/* A relation was altered: renamed, moved, given away, its row security off? */
static void
reach_alter_relation(Oid relid)
{
	ScanKeyData key;
	HeapTuple	before;
	HeapTuple	after;
	Form_pg_class b;
	Form_pg_class a;
	char	   *name;

	if (!relation_protected(relid))
		return;
	before = SearchSysCacheCopy1(RELOID, ObjectIdGetDatum(relid));
	ScanKeyInit(&key, Anum_pg_class_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	after = row_now(RelationRelationId, ClassOidIndexId, 1, &key);
	if (!HeapTupleIsValid(before) || after == NULL)
		return;
	b = (Form_pg_class) GETSTRUCT(before);
	a = (Form_pg_class) GETSTRUCT(after);
	name = quote_qualified_identifier(get_namespace_name(b->relnamespace), NameStr(b->relname));

	if (b->relowner != a->relowner)
		refuse_now(psprintf("Table %s is protected; its owner stays.", name));
	if ((b->relrowsecurity && !a->relrowsecurity) ||
		(b->relforcerowsecurity && !a->relforcerowsecurity))
		refuse_now(psprintf("Row security on protected table %s hides soft-deleted rows.", name));
	if (strcmp(NameStr(b->relname), NameStr(a->relname)) != 0)
		need_approval(relid, 0, REACH_RENAME,
					  psprintf("it renames protected table %s to \"%s\"", name, NameStr(a->relname)));
	if (b->relnamespace != a->relnamespace)
		need_approval(relid, 0, REACH_MOVE,
					  psprintf("it moves protected table %s to schema \"%s\"", name,
							   get_namespace_name(a->relnamespace)));
}

/* Does the running ALTER ... TYPE name this column (recursing to it)? */
static bool
column_retyped(const char *attname)
{
	ListCell   *lc;

	if (frames == NULL)
		return false;
	foreach(lc, frames->retyped)
		if (strcmp((const char *) lfirst(lc), attname) == 0)
			return true;
	return false;
}

static void reach_structure(AgRefusalKind kind, Oid relid, int attnum, char *why);

/*
 * An object given a new owner (ALTER ... OWNER TO, REASSIGN OWNED): one a
 * protected table relies on?  A foreign key's check reads the table it
 * references as that table's owner, and a new owner without the rights the
 * old one had makes humans' writes fail.  Refused, as the classifier
 * refuses ALTER ... OWNER TO of it (structure.c).
 */
static void
reach_alter_owner(Oid classId, Oid objectId, Oid before_owner, Oid after_owner)
{
	char	   *why = NULL;
	Oid			user;

	if (before_owner == after_owner)
		return;
	user = ag_structure_relied_upon(classId, objectId, &why);
	if (!OidIsValid(user))
		return;
	why = psprintf("Protected table %s relies on %s: with another owner, humans' reads or writes of the table could fail.",
				   ag_qualified_relname(user), why);
	if (frames == NULL)
		refuse_now(why);
	else if (frames->reowned == NULL)
	{
		/* when the statement ends: what it does to protected tables themselves first */
		frames->reowned = MemoryContextStrdup(reach_cxt, why);
	}
}

/*
 * A text search configuration or dictionary changed (ALTER TEXT SEARCH
 * CONFIGURATION ... ADD/ALTER/DROP MAPPING, ALTER TEXT SEARCH DICTIONARY):
 * one a protected table relies on (a generated tsvector column, an index
 * or a CHECK that names it)?  New rows of humans' would then be parsed
 * differently, and humans' searches miss them (red team 9, finding 5).
 * Refused, as CREATE OR REPLACE of a function it relies on is.
 */
static void
reach_alter_text_search(Oid classId, Oid objectId)
{
	char	   *why = NULL;
	Oid			user = ag_structure_relied_upon(classId, objectId, &why);

	if (!OidIsValid(user))
		return;
	refuse_now(psprintf("Protected table %s relies on %s: changing it changes what humans' writes of the table store and what their searches find.",
						ag_qualified_relname(user), why));
}

/* The owner column of a function's, type's or schema's row, before and now. */
static void
reach_alter_owned(Oid classId, Oid objectId)
{
	ScanKeyData key;
	HeapTuple	before;
	HeapTuple	after;
	Oid			b;
	Oid			a;

	if (classId == ProcedureRelationId)
	{
		before = SearchSysCacheCopy1(PROCOID, ObjectIdGetDatum(objectId));
		ScanKeyInit(&key, Anum_pg_proc_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(objectId));
		after = row_now(ProcedureRelationId, ProcedureOidIndexId, 1, &key);
		if (!HeapTupleIsValid(before) || after == NULL)
			return;
		b = ((Form_pg_proc) GETSTRUCT(before))->proowner;
		a = ((Form_pg_proc) GETSTRUCT(after))->proowner;
	}
	else if (classId == TypeRelationId)
	{
		before = SearchSysCacheCopy1(TYPEOID, ObjectIdGetDatum(objectId));
		ScanKeyInit(&key, Anum_pg_type_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(objectId));
		after = row_now(TypeRelationId, TypeOidIndexId, 1, &key);
		if (!HeapTupleIsValid(before) || after == NULL)
			return;
		b = ((Form_pg_type) GETSTRUCT(before))->typowner;
		a = ((Form_pg_type) GETSTRUCT(after))->typowner;
	}
	else if (classId == NamespaceRelationId)
	{
		before = SearchSysCacheCopy1(NAMESPACEOID, ObjectIdGetDatum(objectId));
		ScanKeyInit(&key, Anum_pg_namespace_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(objectId));
		after = row_now(NamespaceRelationId, NamespaceOidIndexId, 1, &key);
		if (!HeapTupleIsValid(before) || after == NULL)
			return;
		b = ((Form_pg_namespace) GETSTRUCT(before))->nspowner;
		a = ((Form_pg_namespace) GETSTRUCT(after))->nspowner;
	}
	else
	{
		before = SearchSysCacheCopy1(RELOID, ObjectIdGetDatum(objectId));
		ScanKeyInit(&key, Anum_pg_class_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(objectId));
		after = row_now(RelationRelationId, ClassOidIndexId, 1, &key);
		if (!HeapTupleIsValid(before) || after == NULL)
			return;
		b = ((Form_pg_class) GETSTRUCT(before))->relowner;
		a = ((Form_pg_class) GETSTRUCT(after))->relowner;
	}
	reach_alter_owner(classId, objectId, b, a);
}

/*
 * An object's name and schema, from a catalog row of its class (the
 * schema InvalidOid where the class has none); false if the class has no
 * name column.
 */
static bool
object_name_nsp(Oid classId, HeapTuple tup, TupleDesc desc, char **name, Oid *nsp)
{
	AttrNumber	namecol = get_object_attnum_name(classId);
	AttrNumber	nspcol = get_object_attnum_namespace(classId);
	bool		isnull;
	Datum		d;

	if (namecol == InvalidAttrNumber)
		return false;
	d = heap_getattr(tup, namecol, desc, &isnull);
	if (isnull)
		return false;
	*name = pstrdup(NameStr(*DatumGetName(d)));
	*nsp = InvalidOid;
	if (nspcol != InvalidAttrNumber)
	{
		d = heap_getattr(tup, nspcol, desc, &isnull);
		if (!isnull)
			*nsp = DatumGetObjectId(d);
	}
	return true;
}

/*
 * An object renamed or moved to another schema (ALTER TYPE, DOMAIN,
 * COLLATION, SEQUENCE, FUNCTION, OPERATOR CLASS ... RENAME TO | SET SCHEMA,
 * ALTER EXTENSION ... SET SCHEMA of its extension, a table's rename that
 * renames its row type): one a protected table relies on (a column's type,
 * through arrays, domains, ranges and composite types; a collation, a
 * sequence its defaults draw from, code its defaults, generated columns,
 * CHECKs, indexes, triggers or policies run)?  The table keeps working (it
 * holds the oid), but humans' statements that name the object by its name
 * (a driver's `$1::app.mood`, `nextval('app.ticket_no')`, `COLLATE
 * app.ci`) fail from then on, or reach a namesake the agent makes in its
 * place, whose CHECK or collation then decides what humans' writes store
 * and their reads select (red team 30, finding 11).  Approval, as the
 * rename or move of the table itself; the request is bound to the object.
 * Text search objects are refused whatever their change
 * (reach_alter_text_search()); a new owner is reach_alter_owned()'s.
 */
static void
reach_alter_relied_name(Oid classId, Oid objectId)
{
	int			cache = get_object_catcache_oid(classId);
	Oid			index = get_object_oid_index(classId);
	AttrNumber	oidcol = get_object_attnum_oid(classId);
	ScanKeyData key;
	Relation	cat;
	HeapTuple	before;
	HeapTuple	after;
	char	   *bname;
	char	   *aname;
	Oid			bnsp;
	Oid			ansp;
	bool		ok;
	char	   *why = NULL;
	Oid			user;
	ObjectAddress obj = {classId, objectId, 0};
	char	   *desc;

	if (cache == -1 || !OidIsValid(index) || oidcol == InvalidAttrNumber ||
		objectId < FirstNormalObjectId)
		return;
	before = SearchSysCacheCopy1(cache, ObjectIdGetDatum(objectId));
	ScanKeyInit(&key, oidcol, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(objectId));
	after = row_now(classId, index, 1, &key);
	if (!HeapTupleIsValid(before) || after == NULL)
		return;
	cat = table_open(classId, AccessShareLock);
	ok = object_name_nsp(classId, before, RelationGetDescr(cat), &bname, &bnsp) &&
		object_name_nsp(classId, after, RelationGetDescr(cat), &aname, &ansp);
	table_close(cat, AccessShareLock);
	if (!ok || (strcmp(bname, aname) == 0 && bnsp == ansp))
		return;
	user = ag_structure_relied_upon(classId, objectId, &why);
	if (!OidIsValid(user))
		return;
	desc = getObjectDescription(&obj, true);
	if (bnsp != ansp)
		desc = psprintf("it moves %s to schema \"%s\": protected table %s relies on %s, and humans' statements that name it by its schema would fail, or reach a namesake made in its place",
						desc ? desc : "?", OidIsValid(ansp) ? get_namespace_name(ansp) : "?",
						ag_qualified_relname(user), why);
	else
		desc = psprintf("it renames %s to \"%s\": protected table %s relies on %s, and humans' statements that name it would fail, or reach a namesake made in its place",
						desc ? desc : "?", aname, ag_qualified_relname(user), why);
	need_approval_of(user, 0, REACH_RELIED_NAME, desc, classId, objectId);
}

/* A column was altered: renamed, retyped, made NOT NULL? */
static void
reach_alter_column(Oid relid, int attnum)
{
	ScanKeyData keys[2];
	HeapTuple	before;
	HeapTuple	after;
	Form_pg_attribute b;
	Form_pg_attribute a;
	bool		protected;
	char	   *name;

	if (!table_kind(get_rel_relkind(relid)))
		return;
	protected = relation_protected(relid);
	if (!protected && ag_relation_exempt(relid))
		return;
	before = SearchSysCacheCopy2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
	ScanKeyInit(&keys[0], Anum_pg_attribute_attrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	ScanKeyInit(&keys[1], Anum_pg_attribute_attnum, BTEqualStrategyNumber, F_INT2EQ,
				Int16GetDatum(attnum));
	after = row_now(AttributeRelationId, AttributeRelidNumIndexId, 2, keys);
	if (!HeapTupleIsValid(before) || after == NULL)
		return;
	b = (Form_pg_attribute) GETSTRUCT(before);
	a = (Form_pg_attribute) GETSTRUCT(after);
	if (b->attisdropped)
		return;
	name = ag_qualified_relname(relid);

	if (b->atttypid != a->atttypid || b->atttypmod != a->atttypmod ||
		b->attcollation != a->attcollation || column_retyped(NameStr(b->attname)))
	{
		if (protected && is_stamp_column(NameStr(b->attname)))
			refuse_now(psprintf("Column \"%s\" of %s is a stamp column of the guard.",
								NameStr(b->attname), name));
		need_approval(relid, attnum, REACH_RETYPE,
					  psprintf("it changes the type of column \"%s\" of %s%s", NameStr(b->attname),
							   protected ? "protected table " : "", name));
	}
	/* wider, or no longer movable out of the row by TOAST */
	if (protected && (b->atttypid != a->atttypid || b->atttypmod != a->atttypmod ||
					  b->attlen != a->attlen || b->attstorage != a->attstorage ||
					  b->atthasmissing != a->atthasmissing))
		mark_widened(relid);
	if (protected)
	{
		char	   *why = NULL;
		AgRefusalKind kind = ag_structure_altered_column(relid, b, a, &why);

		reach_structure(kind, relid, attnum, why);
	}
	if (protected && strcmp(NameStr(b->attname), NameStr(a->attname)) != 0)
	{
		if (is_stamp_column(NameStr(b->attname)))
			refuse_now(psprintf("Column \"%s\" of %s is a stamp column of the guard.",
								NameStr(b->attname), name));
		need_approval(relid, attnum, REACH_RENAME_COLUMN,
					  psprintf("it renames column \"%s\" of protected table %s", NameStr(b->attname), name));
	}
}

/*
 * An inheritance link changed: a partition or a child taken out of a table
 * that is not the agent's scratch (its rows leave the table's reads)?
 */
static void
reach_alter_inherits(Oid child, Oid parent)
{
	ScanKeyData key;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		linked = false;
	bool		protected;

	if (!OidIsValid(parent))
		return;
	protected = relation_protected(parent);
	if (!protected && ag_relation_exempt(parent))
		return;
	rel = table_open(InheritsRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(child));
	scan = systable_beginscan(rel, InheritsRelidSeqnoIndexId, true, SnapshotSelf, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
		if (((Form_pg_inherits) GETSTRUCT(tup))->inhparent == parent)
			linked = true;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (linked)
		return;					/* attached, or marked for a concurrent detach */
	need_approval(parent, 0, REACH_DETACH,
				  psprintf("it takes %s out of %stable %s",
						   ag_qualified_relname(child), protected ? "protected " : "",
						   ag_qualified_relname(parent)));
}

/* The protected relations of a schema (InvalidOid: of every schema). */
static List *
protected_in_schema(Oid nsp)
{
	Oid			fn = ag_capture_function();
	List	   *result = NIL;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;

	if (!OidIsValid(fn))
		return NIL;
	rel = table_open(TriggerRelationId, AccessShareLock);
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_trigger t = (Form_pg_trigger) GETSTRUCT(tup);

		if (t->tgfoid == fn && (!OidIsValid(nsp) || get_rel_namespace(t->tgrelid) == nsp))
			result = list_append_unique_oid(result, t->tgrelid);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}

/* A schema was altered: renamed, with protected tables in it? */
static void
reach_alter_schema(Oid nsp)
{
	ScanKeyData key;
	HeapTuple	before = SearchSysCacheCopy1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	HeapTuple	after;
	const char *old;
	const char *new;
	ListCell   *lc;

	ScanKeyInit(&key, Anum_pg_namespace_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(nsp));
	after = row_now(NamespaceRelationId, NamespaceOidIndexId, 1, &key);
	if (!HeapTupleIsValid(before) || after == NULL)
		return;
	old = NameStr(((Form_pg_namespace) GETSTRUCT(before))->nspname);
	new = NameStr(((Form_pg_namespace) GETSTRUCT(after))->nspname);
	if (strcmp(old, new) == 0)
		return;
	foreach(lc, protected_in_schema(nsp))
	{
		Oid			relid = lfirst_oid(lc);

		need_approval(relid, 0, REACH_SCHEMA_RENAME,
					  psprintf("it renames schema \"%s\", which holds protected table %s",
							   old, quote_qualified_identifier(old, get_rel_name(relid))));
	}

	/*
	 * A type, domain, collation, sequence or function a protected table
	 * relies on, in the schema: humans' statements that name it by its
	 * schema fail from then on (red team 30, finding 11).
	 */
	{
		char	   *why = NULL;
		Oid			user = ag_structure_relied_upon(NamespaceRelationId, nsp, &why);

		if (OidIsValid(user))
			need_approval_of(user, 0, REACH_RELIED_NAME,
							 psprintf("it renames schema \"%s\": protected table %s relies on %s, and humans' statements that name it by its schema would fail, or reach a namesake made in its place",
									  old, ag_qualified_relname(user), why),
							 NamespaceRelationId, nsp);
	}
}

/*
 * An extension was altered: a protected table made one of its members, or
 * an object one relies on (a type, function, operator, collation, ...:
 * pg_dump leaves a member out, red team 17c, finding 2; structure.c judges
 * ALTER EXTENSION ... ADD | DROP by its names, this is the backstop)?
 */
static void
reach_alter_extension(Oid ext)
{
	ScanKeyData keys[2];
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			joined = InvalidOid;
	Oid			relier = InvalidOid;
	char	   *relied = NULL;
	AgRelianceWalk *walk;

	/*
	 * One walk for all the members: an extension's script runs this for
	 * each update step, and its members share operator families and types
	 * (red team 18a, finding 1).
	 */
	walk = ag_reliance_walk_begin();
	rel = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&keys[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(ExtensionRelationId));
	ScanKeyInit(&keys[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(ext));
	scan = systable_beginscan(rel, DependReferenceIndexId, true, SnapshotSelf, 2, keys);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend d = (Form_pg_depend) GETSTRUCT(tup);

		CHECK_FOR_INTERRUPTS();
		if (d->deptype != DEPENDENCY_EXTENSION ||
			!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tup->t_data)))
			continue;
		/* the table, its row type, or a schema that holds it */
		if (d->classid == RelationRelationId && relation_protected(d->objid))
			joined = d->objid;
		else if (d->classid == TypeRelationId && OidIsValid(get_typ_typrelid(d->objid)) &&
				 relation_protected(get_typ_typrelid(d->objid)))
			joined = get_typ_typrelid(d->objid);
		else if (d->classid == NamespaceRelationId && protected_in_schema(d->objid) != NIL)
			joined = linitial_oid(protected_in_schema(d->objid));
		else if (!OidIsValid(relier))
			relier = ag_structure_relied_upon_in(walk, d->classid, d->objid, &relied);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	ag_reliance_walk_end(walk);
	if (OidIsValid(relier) && !OidIsValid(joined))
		refuse_now(psprintf("Protected table %s relies on %s: as a member of extension \"%s\" it would be left out of pg_dump's backup, whose restore would then lose the table and its rows, and DROP EXTENSION would drop it.",
							ag_qualified_relname(relier), relied, get_extension_name(ext)));
	if (OidIsValid(joined))
		refuse_now(psprintf("It makes protected table %s (or its row type or schema) a member of extension \"%s\": "
							"DROP EXTENSION would drop it, and pg_dump would leave it out.",
							ag_qualified_relname(joined), get_extension_name(ext)));
}

/*
 * An object of a class other than relations is dropped (DROP TABLE ...
 * CASCADE of the agent's scratch table takes a human's function whose
 * argument or result is its row type; DROP TYPE, FUNCTION, SCHEMA ...
 * CASCADE a human's domain, function, operator, aggregate or cast's
 * function built on the agent's object): one a role owns whose rights the
 * agent does not have?  The agent could not drop it by its name (it is
 * not the owner), and the scratch exemption covers what the agent owns,
 * not what it reaches (red team 30, finding 9).  Approval, naming the
 * object and its owner, as for a human's view on the scratch table.
 * Relations are judged by reach_drop(); objects without an owner of their
 * own (constraints, triggers, defaults, policies, rules) go with their
 * table, whose drop is judged as itself, and a protected table's are
 * judged by reach_drop_dependent(); an extension's members go with the
 * extension, whose own drop is judged here; a table's row type, array
 * types, a range type's constructors (the bootstrap superuser's) go with
 * what they belong to.
 */
/*
 * Is the object a part of another (an internal dependency: a table's row
 * type, an array type, a range type's constructors and multirange, owned
 * by the bootstrap superuser)?  It goes with what it belongs to, which is
 * judged as itself.
 */
static bool
object_internal_part(Oid classId, Oid objectId)
{
	Relation	dep;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	bool		part = false;

	dep = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_classid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(classId));
	ScanKeyInit(&key[1], Anum_pg_depend_objid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(objectId));
	scan = systable_beginscan(dep, DependDependerIndexId, true, NULL, 2, key);
	while (!part && HeapTupleIsValid(tup = systable_getnext(scan)))
		part = ((Form_pg_depend) GETSTRUCT(tup))->deptype == DEPENDENCY_INTERNAL;
	systable_endscan(scan);
	table_close(dep, AccessShareLock);
	return part;
}

static void
reach_drop_foreign(Oid classId, Oid objectId)
{
	int			cache;
	AttrNumber	ownercol;
	AttrNumber	nspcol;
	HeapTuple	tup;
	bool		isnull;
	Datum		d;
	Oid			owner;
	Oid			nsp = InvalidOid;
	ObjectAddress obj = {classId, objectId, 0};
	char	   *desc;
	char	   *who;

	if (objectId < FirstNormalObjectId || classId == RelationRelationId ||
		!is_objectclass_supported(classId))
		return;
	if (classId == TypeRelationId &&
		(OidIsValid(get_typ_typrelid(objectId)) || type_is_array(objectId)))
		return;
	if (classId != ExtensionRelationId && OidIsValid(getExtensionOfObject(classId, objectId)))
		return;
	if (object_internal_part(classId, objectId))
		return;
	cache = get_object_catcache_oid(classId);
	ownercol = get_object_attnum_owner(classId);
	nspcol = get_object_attnum_namespace(classId);
	if (cache == -1 || ownercol == InvalidAttrNumber)
		return;
	tup = SearchSysCache1(cache, ObjectIdGetDatum(objectId));
	if (!HeapTupleIsValid(tup))
		return;
	d = SysCacheGetAttr(cache, tup, ownercol, &isnull);
	owner = isnull ? InvalidOid : DatumGetObjectId(d);
	if (nspcol != InvalidAttrNumber)
	{
		d = SysCacheGetAttr(cache, tup, nspcol, &isnull);
		if (!isnull)
			nsp = DatumGetObjectId(d);
	}
	ReleaseSysCache(tup);
	if (!OidIsValid(owner) || has_privs_of_role(GetUserId(), owner))
		return;
	/* the contents of a schema whose drop a human approved by its name */
	if (OidIsValid(nsp) && frames != NULL && list_member_oid(frames->covered_nsps, nsp))
		return;
	desc = getObjectDescription(&obj, true);
	who = GetUserNameFromId(owner, true);
	need_approval_of(InvalidOid, 0, REACH_FOREIGN_DROP,
					 psprintf("it drops %s, which role %s owns", desc ? desc : "an object",
							  who ? quote_identifier(who) : "?"),
					 classId, objectId);
}

/*
 * A relation made, renamed or moved (CREATE TABLE, VIEW, MATERIALIZED
 * VIEW, FOREIGN TABLE, SEQUENCE, ... AS, SELECT INTO; ALTER ... RENAME TO,
 * SET SCHEMA) with the name of a protected table in another schema?  Where
 * a human's search_path lists the agent's schema first (`SET search_path =
 * public, app` with CREATE on public), the human's statements that name the
 * table without its schema read the agent's view or write the agent's
 * table instead, unrecorded (red team 30, finding 4).  Refused (YG004) in
 * a schema the agent does not own (public, a team's schema it was given
 * CREATE on: the schemas humans have on their search_path as a matter of
 * course); the guard cannot know every human's search_path.  A schema the
 * agent owns (its own, or one a human made for it with AUTHORIZATION) is
 * its work space, on a human's search_path only if the human put it there,
 * and agents keep copies of tables there under their names (`work.orders`
 * beside `app.orders`); so is the session's temporary schema, which no
 * other session sees.  *created: the relation is new (else only a change
 * of name or schema is judged).
 */
static void
reach_shadow_relation(Oid relid, bool created)
{
	ScanKeyData key;
	HeapTuple	after;
	Form_pg_class a;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			found = InvalidOid;
	Oid			nspowner;
	NameData	name;

	ScanKeyInit(&key, Anum_pg_class_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	after = row_now(RelationRelationId, ClassOidIndexId, 1, &key);
	if (after == NULL)
		return;
	a = (Form_pg_class) GETSTRUCT(after);
	if (!(a->relkind == RELKIND_RELATION || a->relkind == RELKIND_PARTITIONED_TABLE ||
		  a->relkind == RELKIND_VIEW || a->relkind == RELKIND_MATVIEW ||
		  a->relkind == RELKIND_FOREIGN_TABLE || a->relkind == RELKIND_SEQUENCE) ||
		isAnyTempNamespace(a->relnamespace))
		return;
	nspowner = ag_catalog_oid_field(NamespaceRelationId, Anum_pg_namespace_oid, a->relnamespace,
									Anum_pg_namespace_nspowner);
	if (nspowner == GetSessionUserId() || nspowner == GetUserId())
		return;					/* the agent's own schema */
	if (!created)
	{
		HeapTuple	before = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
		bool		same;

		if (!HeapTupleIsValid(before))
			return;
		same = ((Form_pg_class) GETSTRUCT(before))->relnamespace == a->relnamespace &&
			strcmp(NameStr(((Form_pg_class) GETSTRUCT(before))->relname), NameStr(a->relname)) == 0;
		ReleaseSysCache(before);
		if (same)
			return;
	}
	namestrcpy(&name, NameStr(a->relname));
	rel = table_open(RelationRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_class_relname, BTEqualStrategyNumber, F_NAMEEQ, NameGetDatum(&name));
	scan = systable_beginscan(rel, ClassNameNspIndexId, true, NULL, 1, &key);
	while (!OidIsValid(found) && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_class c = (Form_pg_class) GETSTRUCT(tup);

		if (c->oid != relid && c->relnamespace != a->relnamespace &&
			!isAnyTempNamespace(c->relnamespace) && relation_protected(c->oid))
			found = c->oid;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (OidIsValid(found))
		refuse_now(psprintf("%s \"%s\" in schema \"%s\" would have the name of protected table %s: where a human's search_path lists schema \"%s\" first, the human's statements that name the table without its schema would read or write the agent's relation instead. Give it another name, or make it in a schema of the agent's own.",
							a->relkind == RELKIND_SEQUENCE ? "Sequence" :
							a->relkind == RELKIND_VIEW ? "View" :
							a->relkind == RELKIND_MATVIEW ? "Materialized view" :
							a->relkind == RELKIND_FOREIGN_TABLE ? "Foreign table" : "Table",
							NameStr(a->relname), get_namespace_name(a->relnamespace),
							ag_qualified_relname(found), get_namespace_name(a->relnamespace)));
}

/* A trigger is dropped: the guard's capture trigger? */
static void
reach_drop_trigger(Oid trigid)
{
	ScanKeyData key;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			fn;

	if (frames == NULL || !OidIsValid(fn = ag_capture_function()))
		return;
	rel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_trigger_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(trigid));
	scan = systable_beginscan(rel, TriggerOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup) && ((Form_pg_trigger) GETSTRUCT(tup))->tgfoid != fn)
	{
		/*
		 * Another trigger of a protected table (a clone of its parent's
		 * trigger, dropped with it): refused as DROP TRIGGER on the table,
		 * if the table stays.  The guard's other triggers go with the
		 * capture trigger.
		 */
		Form_pg_trigger t = (Form_pg_trigger) GETSTRUCT(tup);

		if (!t->tgisinternal && relation_protected(t->tgrelid) &&
			get_func_namespace(t->tgfoid) != ag_guard_namespace())
		{
			MemoryContext old = MemoryContextSwitchTo(reach_cxt);

			frames->untriggered = list_append_unique_oid(frames->untriggered, t->tgrelid);
			MemoryContextSwitchTo(old);
		}
	}
	else if (HeapTupleIsValid(tup))
	{
		Form_pg_trigger t = (Form_pg_trigger) GETSTRUCT(tup);
		MemoryContext old = MemoryContextSwitchTo(reach_cxt);

		/* its table is still protected when its own drop comes */
		frames->guard_rels = lappend_oid(frames->guard_rels, t->tgrelid);
		if (!OidIsValid(t->tgparentid))
			frames->unguarded = lappend_oid(frames->unguarded, t->tgrelid);
		MemoryContextSwitchTo(old);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/*
 * A trigger was altered: a clone on a protected table enabled, disabled or
 * renamed with its parent's trigger (ALTER TABLE ... ENABLE/DISABLE
 * TRIGGER, ALTER TRIGGER ... RENAME of a partitioned table)?  Refused, as
 * the direct act on the table.  The row before the command is read with
 * the catalog snapshot, which does not see this command's update.
 */
static void
reach_alter_trigger(Oid trigoid)
{
	ScanKeyData key;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	before;
	HeapTuple	after;
	Form_pg_trigger b;
	Form_pg_trigger a;

	ScanKeyInit(&key, Anum_pg_trigger_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(trigoid));
	rel = table_open(TriggerRelationId, AccessShareLock);
	scan = systable_beginscan(rel, TriggerOidIndexId, true, NULL, 1, &key);
	before = systable_getnext(scan);
	before = HeapTupleIsValid(before) ? heap_copytuple(before) : NULL;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	after = row_now(TriggerRelationId, TriggerOidIndexId, 1, &key);
	if (before == NULL || after == NULL)
		return;
	b = (Form_pg_trigger) GETSTRUCT(before);
	a = (Form_pg_trigger) GETSTRUCT(after);
	if (b->tgisinternal || !relation_protected(b->tgrelid))
		return;
	if (b->tgenabled != a->tgenabled || strcmp(NameStr(b->tgname), NameStr(a->tgname)) != 0)
		refuse_now(psprintf("It %s trigger \"%s\" of protected table %s: a trigger runs on every write, humans' too, and triggers fire in name order.",
							b->tgenabled != a->tgenabled ? "enables or disables" : "renames",
							NameStr(b->tgname), ag_qualified_relname(b->tgrelid)));
}

/*
 * A column default, row-security policy or rule is dropped: one of a
 * protected table's (red team 9, finding 2)?  DROP FUNCTION, SEQUENCE,
 * TYPE, OPERATOR, COLLATION, SCHEMA ... CASCADE and DROP OWNED drop what
 * used the object, with no word on the table.  Remembered here, with the
 * object still in the catalogs, and judged when the statement ends if the
 * table (and the default's column) is still there: a dropped table or
 * column takes them with it, and that drop is judged as itself.  A
 * policy's or rule's drop is refused as DROP POLICY and DROP RULE on the
 * table are; a default's as ALTER COLUMN ... DROP DEFAULT (approval on a
 * key or NOT NULL column).  Triggers, keys and columns are judged on their own drops.
 */
static void
reach_drop_dependent(Oid classId, Oid objectId)
{
	ObjectAddress obj = {classId, objectId, 0};
	Oid			relid = InvalidOid;
	int			attnum = 0;
	MemoryContext old;
	ReachDependent *dep;

	if (frames == NULL)
		return;
	if (classId == AttrDefaultRelationId)
	{
		ObjectAddress col = GetAttrDefaultColumnAddress(objectId);

		relid = col.objectId;
		attnum = col.objectSubId;
	}
	else if (classId == PolicyRelationId)
		relid = ag_catalog_oid_field(PolicyRelationId, Anum_pg_policy_oid, objectId,
									 Anum_pg_policy_polrelid);
	else if (classId == RewriteRelationId)
		relid = ag_catalog_oid_field(RewriteRelationId, Anum_pg_rewrite_oid, objectId,
									 Anum_pg_rewrite_ev_class);
	else if (classId == ConstraintRelationId)
	{
		relid = ag_catalog_oid_field(ConstraintRelationId, Anum_pg_constraint_oid, objectId,
									 Anum_pg_constraint_conrelid);
		if (!OidIsValid(relid))
		{
			/* a domain's constraint: the protected table whose columns use it */
			Oid			domain = ag_catalog_oid_field(ConstraintRelationId, Anum_pg_constraint_oid,
													  objectId, Anum_pg_constraint_contypid);

			relid = OidIsValid(domain) ? ag_structure_type_user(domain) : InvalidOid;
		}
	}
	else if (classId == RelationRelationId)
		relid = IndexGetRelation(objectId, true);
	if (!OidIsValid(relid) || !relation_protected(relid))
		return;
	old = MemoryContextSwitchTo(reach_cxt);
	dep = palloc(sizeof(ReachDependent));
	dep->classid = classId;
	dep->objid = objectId;
	dep->relid = relid;
	dep->attnum = attnum;
	dep->desc = getObjectDescription(&obj, true);
	dep->above = (classId == RelationRelationId && get_rel_relispartition(objectId)) ?
		get_partition_ancestors(objectId) : NIL;
	if (dep->desc == NULL)
		dep->desc = pstrdup("?");
	frames->dependents = lappend(frames->dependents, dep);
	MemoryContextSwitchTo(old);
}

/* Is the column there (not dropped)? */
static bool
column_exists(Oid relid, int attnum)
{
	HeapTuple	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attnum));
	bool		exists = false;

	if (HeapTupleIsValid(tup))
	{
		exists = !((Form_pg_attribute) GETSTRUCT(tup))->attisdropped;
		ReleaseSysCache(tup);
	}
	return exists;
}

/* The statement ends: the dependents it dropped of tables it kept. */
static void
decide_dependents(ReachFrame *f)
{
	List	   *deps = f->dependents;
	ListCell   *lc;

	f->dependents = NIL;
	foreach(lc, deps)
	{
		ReachDependent *dep = lfirst(lc);
		char	   *name;

		if (!relation_exists(dep->relid))
			continue;
		name = ag_qualified_relname(dep->relid);
		if (dep->classid == PolicyRelationId)
			ag_refuse(AG_REFUSAL_GUARD, f->what,
					  psprintf("It drops %s, a row security policy of protected table %s: policies decide what humans see; only a human may drop one.",
							   dep->desc, name),
					  f->text, f->len, 0);
		else if (dep->classid == RewriteRelationId)
			ag_refuse(AG_REFUSAL_GUARD, f->what,
					  psprintf("It drops %s, a rule of protected table %s: a rule rewrites writes, humans' too; only a human may drop one.",
							   dep->desc, name),
					  f->text, f->len, 0);
		else if (dep->classid == ConstraintRelationId || dep->classid == RelationRelationId)
		{
			/* as ALTER TABLE ... DROP CONSTRAINT, DROP INDEX of a unique index */
			ReachFrame *c;
			bool		named = false;

			/* a partition's index goes with its parent's, which may be named */
			for (c = f; c != NULL && !named; c = c->subcommand ? c->outer : NULL)
			{
				ListCell   *a;

				named = c->approved && list_member_oid(c->covered, dep->objid);
				foreach(a, dep->above)
					named = named || (c->approved && list_member_oid(c->covered, lfirst_oid(a)));
			}
			if (!named && !structure_covered(dep->relid))
			{
				MemoryContext old = MemoryContextSwitchTo(reach_cxt);
				ReachItem  *it = palloc0(sizeof(ReachItem));

				it->relid = dep->relid;
				it->attnum = 0;
				it->act = REACH_STRUCTURE;
				it->desc = psprintf("it drops %s, which humans' writes may rely on", dep->desc);
				f->items = lappend(f->items, it);
				MemoryContextSwitchTo(old);
			}
		}
		else if (dep->classid == AttrDefaultRelationId && column_exists(dep->relid, dep->attnum))
		{
			char	   *why = NULL;
			AgRefusalKind kind = ag_structure_dropped_default(dep->relid, dep->attnum, &why);

			if (kind == AG_REFUSAL_GUARD)
				ag_refuse(AG_REFUSAL_GUARD, f->what, why, f->text, f->len, 0);
			else if (kind == AG_REFUSAL_APPROVAL && !structure_covered(dep->relid))
			{
				/* need_approval() would decide at once outside the frame's transaction */
				MemoryContext old = MemoryContextSwitchTo(reach_cxt);
				ReachItem  *it = palloc0(sizeof(ReachItem));

				it->relid = dep->relid;
				it->attnum = dep->attnum;
				it->act = REACH_STRUCTURE;
				it->desc = pstrdup(why);
				f->items = lappend(f->items, it);
				MemoryContextSwitchTo(old);
			}
		}
	}
	list_free(deps);
}

/*
 * A constraint humans' writes may rely on, other than the key (which
 * reach_drop_key judges): a CHECK, a unique or exclusion constraint, a
 * foreign key of a table.  Not REINDEX's old copies.
 */
static bool
constraint_relied_on(Oid conoid)
{
	HeapTuple	tup;
	bool		relied = false;

	if (frames == NULL || strcmp(frames->what, "REINDEX") == 0)
		return false;
	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));
	if (HeapTupleIsValid(tup))
	{
		Form_pg_constraint c = (Form_pg_constraint) GETSTRUCT(tup);

		relied = (OidIsValid(c->conrelid) &&
				  (c->contype == CONSTRAINT_CHECK || c->contype == CONSTRAINT_UNIQUE ||
				   c->contype == CONSTRAINT_EXCLUSION || c->contype == CONSTRAINT_FOREIGN)) ||
			/* a domain's CHECK, where a protected column uses the domain */
			(OidIsValid(c->contypid) && c->contype == CONSTRAINT_CHECK);
		ReleaseSysCache(tup);
	}
	return relied;
}

/*
 * A unique index made by CREATE UNIQUE INDEX, not for a constraint (whose
 * drop is judged as the constraint's).
 */
static bool
index_alone_unique(Oid indexoid)
{
	HeapTuple	tup;
	bool		unique = false;

	if (frames == NULL || strcmp(frames->what, "REINDEX") == 0)
		return false;
	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
	if (HeapTupleIsValid(tup))
	{
		Form_pg_index ix = (Form_pg_index) GETSTRUCT(tup);

		unique = (ix->indisunique || ix->indisexclusion) && !ix->indisprimary;
		ReleaseSysCache(tup);
	}
	return unique && !OidIsValid(get_index_constraint(indexoid));
}

/*
 * An index or constraint is dropped: the key by which the log identifies
 * the rows of a protected table (its primary key, its replica identity
 * index), as a parent's DROP CONSTRAINT or DROP INDEX drops its partitions'
 * keys?  Refused when the statement ends if the table is still there (a
 * dropped table takes its key with it; ALTER ... TYPE re-creates it;
 * REINDEX CONCURRENTLY drops the old copy of an index it has replaced).
 */
static void
reach_drop_key(Oid classId, Oid objectId)
{
	Oid			relid = InvalidOid;
	Oid			indexoid = InvalidOid;
	HeapTuple	tup;
	MemoryContext old;

	if (frames == NULL || strcmp(frames->what, "REINDEX") == 0)
		return;
	if (classId == ConstraintRelationId)
	{
		tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(objectId));
		if (!HeapTupleIsValid(tup))
			return;
		relid = ((Form_pg_constraint) GETSTRUCT(tup))->conrelid;
		/* a foreign key's conindid is the referenced table's index */
		if (((Form_pg_constraint) GETSTRUCT(tup))->contype != CONSTRAINT_FOREIGN)
			indexoid = ((Form_pg_constraint) GETSTRUCT(tup))->conindid;
		if (((Form_pg_constraint) GETSTRUCT(tup))->contype != CONSTRAINT_PRIMARY &&
			!OidIsValid(indexoid))
			relid = InvalidOid;
		ReleaseSysCache(tup);
	}
	else
		indexoid = objectId;
	if (OidIsValid(indexoid))
	{
		tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
		if (!HeapTupleIsValid(tup))
			return;
		if (((Form_pg_index) GETSTRUCT(tup))->indisprimary ||
			((Form_pg_index) GETSTRUCT(tup))->indisreplident)
			relid = ((Form_pg_index) GETSTRUCT(tup))->indrelid;
		else
			relid = InvalidOid;
		ReleaseSysCache(tup);
	}
	if (!OidIsValid(relid) || !relation_protected(relid))
		return;
	old = MemoryContextSwitchTo(reach_cxt);
	frames->unkeyed = list_append_unique_oid(frames->unkeyed, relid);
	MemoryContextSwitchTo(old);
}

/*
 * A constraint was created: a foreign key that references a protected
 * table is judged as the classifier judges one it sees declared (refused
 * when it cascades or sets values, else approval), whatever made it.  The
 * classifier's own approval of the statement, or of the statement it is a
 * subcommand of (CREATE TABLE's foreign keys), covers it.
 */
static void
reach_create_constraint(Oid conoid)
{
	ScanKeyData key;
	HeapTuple	tup;
	Form_pg_constraint c;
	ReachFrame *f;

	ScanKeyInit(&key, Anum_pg_constraint_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(conoid));
	tup = row_now(ConstraintRelationId, ConstraintOidIndexId, 1, &key);
	if (tup == NULL)
		return;
	c = (Form_pg_constraint) GETSTRUCT(tup);
	if (c->contype != CONSTRAINT_FOREIGN || !relation_protected(c->confrelid))
		return;
	for (f = frames; f != NULL; f = f->subcommand ? f->outer : NULL)
		if (f->approved || f->retyped != NIL)
			return;				/* approved; or a retype re-creating the keys it had */
	if (c->confdeltype == FKCONSTR_ACTION_CASCADE || c->confdeltype == FKCONSTR_ACTION_SETNULL ||
		c->confdeltype == FKCONSTR_ACTION_SETDEFAULT || c->confupdtype == FKCONSTR_ACTION_CASCADE ||
		c->confupdtype == FKCONSTR_ACTION_SETNULL || c->confupdtype == FKCONSTR_ACTION_SETDEFAULT)
		refuse_now(psprintf("A foreign key from %s that cascades or sets values would write it inside humans' deletes and updates of protected table %s.",
							ag_qualified_relname(c->conrelid), ag_qualified_relname(c->confrelid)));
	else
		need_approval(c->conrelid, 0, REACH_FOREIGN_KEY,
					  psprintf("a foreign key from %s refuses humans' deletes of protected table %s",
							   ag_qualified_relname(c->conrelid), ag_qualified_relname(c->confrelid)));
}

/*
 * What a statement made or changed on a protected table's structure, as
 * PostgreSQL passes a parent's ALTER TABLE, CREATE INDEX or CREATE TRIGGER
 * down to its inheritance children and partitions: the direct act's
 * decision (structure.c).  Not judged: REINDEX's copies of existing
 * indexes.  What ALTER ... TYPE re-creates (the indexes, constraints and
 * defaults the column had) is judged as new: the retype needs approval
 * anyway, and another subcommand of the statement could have added it.
 */
static void
reach_structure(AgRefusalKind kind, Oid relid, int attnum, char *why)
{
	if (kind == AG_REFUSAL_NONE || frames == NULL)
		return;
	if (strcmp(frames->what, "REINDEX") == 0)
		return;
	if (kind == AG_REFUSAL_GUARD)
		refuse_now(why);
	else if (!structure_covered(relid))
		need_approval(relid, attnum, REACH_STRUCTURE, why);
}

static void
reach_create_structure(Oid classId, Oid objectId, int subId)
{
	Oid			relid = InvalidOid;
	int			attnum = classId == RelationRelationId ? subId : 0;
	char	   *why = NULL;
	AgRefusalKind kind = AG_REFUSAL_NONE;

	if (frames == NULL)
		return;
	if (classId == RelationRelationId && subId == 0)
		kind = ag_structure_new_index(objectId, &relid, &why);
	else if (classId == RelationRelationId)
	{
		relid = objectId;
		kind = ag_structure_new_column(objectId, subId, &why);
		mark_widened(objectId);
	}
	else if (classId == ConstraintRelationId)
		kind = ag_structure_new_constraint(objectId, &relid, &attnum, &why);
	else if (classId == TriggerRelationId)
		kind = ag_structure_new_trigger(objectId, &relid, &why);
	else if (classId == AttrDefaultRelationId)
	{
		relid = objectId;
		kind = ag_structure_new_default(objectId, subId, &why);
		mark_widened(objectId);
	}
	reach_structure(kind, relid, attnum, why);
}

/* ---------------------------------------------------------------------
 * Publications
 *
 * Which publications ship a table decides what PostgreSQL demands of
 * every UPDATE and DELETE of it: a publication that publishes them with a
 * column list or row filter that leaves out a column of the table's
 * replica identity makes them fail ("cannot update table ..."), humans'
 * too, and so do options changed later (publish, publish_via_partition_root,
 * publish_generated_columns).  A publication also sends the table's rows,
 * soft-deleted ones and stamps included, out of the database to whoever
 * subscribes.  So an agent may not put a protected table in a publication,
 * by any path (CREATE PUBLICATION ... FOR TABLE, ALTER PUBLICATION ... ADD
 * or SET TABLE, a parent or partitioned table whose child or partition is
 * protected, TABLES IN SCHEMA of a schema that holds one, ALL TABLES), nor
 * change the options of a publication that ships one (refused, YG004).
 * Taking a table out of a publication, renaming or dropping it stays
 * allowed: it can only lift those demands.  The rows are read as this
 * command left them.
 * ---------------------------------------------------------------------
 */

/*
 * The protected table a publication of relid ships: it, or a partition of
 * it (an inheritance child is published as a table of its own, unless the
 * statement said ONLY).
 */
static Oid
published_protected(Oid relid)
{
	ListCell   *lc;

	if (relation_protected(relid))
		return relid;
	if (get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE)
		return InvalidOid;
	foreach(lc, find_all_inheritors(relid, NoLock, NULL))
		if (relation_protected(lfirst_oid(lc)))
			return lfirst_oid(lc);
	return InvalidOid;
}

/* A protected table that publication pubid ships, or InvalidOid. */
static Oid
publication_ships_protected(Oid pubid, bool alltables)
{
	ScanKeyData key;
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			found = InvalidOid;
	List	   *all;

	if (alltables)
	{
		all = protected_in_schema(InvalidOid);
		return all != NIL ? linitial_oid(all) : InvalidOid;
	}
	rel = table_open(PublicationRelRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_publication_rel_prpubid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(pubid));
	scan = systable_beginscan(rel, InvalidOid, false, SnapshotSelf, 1, &key);
	while (!OidIsValid(found) && HeapTupleIsValid(tup = systable_getnext(scan)))
		found = published_protected(((Form_pg_publication_rel) GETSTRUCT(tup))->prrelid);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
#ifdef AG_HAVE_PUBLICATION_SCHEMAS
	if (OidIsValid(found))
		return found;
	rel = table_open(PublicationNamespaceRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_publication_namespace_pnpubid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(pubid));
	scan = systable_beginscan(rel, InvalidOid, false, SnapshotSelf, 1, &key);
	while (!OidIsValid(found) && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		all = protected_in_schema(((Form_pg_publication_namespace) GETSTRUCT(tup))->pnnspid);
		if (all != NIL)
			found = linitial_oid(all);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
#endif
	return found;
}

/* The publication's row as this command left it, or NULL. */
static HeapTuple
publication_now(Oid pubid)
{
	ScanKeyData key;

	ScanKeyInit(&key, Anum_pg_publication_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(pubid));
	return row_now(PublicationRelationId, PublicationObjectIndexId, 1, &key);
}

static void
refuse_publishing(Oid pubid, Oid relid)
{
	HeapTuple	pub = publication_now(pubid);

	refuse_now(psprintf("Publication \"%s\" would ship protected table %s: a column list or row filter that leaves out its replica identity makes humans' updates and deletes of it fail, and a publication sends its rows, soft-deleted ones too, out of the database. Only a human may publish a protected table.",
						pub ? NameStr(((Form_pg_publication) GETSTRUCT(pub))->pubname) : "?",
						ag_qualified_relname(relid)));
}

/* A table was added to a publication (ALTER PUBLICATION ... ADD/SET TABLE). */
static void
reach_publication_rel(Oid prid)
{
	ScanKeyData key;
	HeapTuple	tup;
	Form_pg_publication_rel pr;
	Oid			found;

	ScanKeyInit(&key, Anum_pg_publication_rel_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(prid));
	tup = row_now(PublicationRelRelationId, PublicationRelObjectIndexId, 1, &key);
	if (tup == NULL)
		return;
	pr = (Form_pg_publication_rel) GETSTRUCT(tup);
	found = published_protected(pr->prrelid);
	if (OidIsValid(found))
		refuse_publishing(pr->prpubid, found);
}

#ifdef AG_HAVE_PUBLICATION_SCHEMAS
/* A schema was added to a publication (... ADD TABLES IN SCHEMA). */
static void
reach_publication_schema(Oid pnid)
{
	ScanKeyData key;
	HeapTuple	tup;
	Form_pg_publication_namespace pn;
	List	   *found;

	ScanKeyInit(&key, Anum_pg_publication_namespace_oid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(pnid));
	tup = row_now(PublicationNamespaceRelationId, PublicationNamespaceObjectIndexId, 1, &key);
	if (tup == NULL)
		return;
	pn = (Form_pg_publication_namespace) GETSTRUCT(tup);
	found = protected_in_schema(pn->pnnspid);
	if (found != NIL)
		refuse_publishing(pn->pnpubid, linitial_oid(found));
}
#endif

/*
 * A publication was created (with the tables and schemas CREATE PUBLICATION
 * names, which have no hook call of their own), or altered: its options?
 * PostgreSQL makes the new options visible (CommandCounterIncrement) before
 * it calls the hook, so the row cannot be compared with the one before:
 * the statement tells an ALTER PUBLICATION ... SET (options) from a rename
 * or a new owner.
 */
static void
reach_publication(Oid pubid, bool created)
{
	HeapTuple	after = publication_now(pubid);
	Form_pg_publication a;
	Oid			found;

	if (after == NULL)
		return;
	a = (Form_pg_publication) GETSTRUCT(after);
	if (created)
	{
		found = publication_ships_protected(pubid, a->puballtables);
		if (OidIsValid(found))
			refuse_publishing(pubid, found);
		return;
	}
	if (frames != NULL && !frames->pub_options)
		return;					/* a rename, a new owner */
	found = publication_ships_protected(pubid, a->puballtables);
	if (OidIsValid(found))
		refuse_now(psprintf("Publication \"%s\" ships protected table %s: its options decide whether humans' updates and deletes of it must be covered by its column list and row filter. Only a human may change them.",
							NameStr(a->pubname), ag_qualified_relname(found)));
}

/*
 * Is the object in a temporary schema?  Any class with a namespace column
 * (a type, relation, function, collation, operator, text search
 * configuration, ...); objects of the system's and classes without a
 * namespace are not.
 */
static bool
object_in_temporary_schema(Oid classid, Oid objid)
{
	int			cache;
	AttrNumber	nspcol;
	HeapTuple	tup;
	bool		isnull;
	Datum		nsp;
	bool		temporary = false;

	if (objid < FirstNormalObjectId || !is_objectclass_supported(classid))
		return false;
	if (classid == NamespaceRelationId)
		return isAnyTempNamespace(objid);
	cache = get_object_catcache_oid(classid);
	nspcol = get_object_attnum_namespace(classid);
	if (cache == -1 || nspcol == InvalidAttrNumber)
		return false;
	tup = SearchSysCache1(cache, ObjectIdGetDatum(objid));
	if (!HeapTupleIsValid(tup))
		return false;			/* made by this command: its own rows say */
	nsp = SysCacheGetAttr(cache, tup, nspcol, &isnull);
	if (!isnull)
		temporary = isAnyTempNamespace(DatumGetObjectId(nsp));
	ReleaseSysCache(tup);
	return temporary;
}

/*
 * Does the object depend, directly or through a few others, on one in a
 * temporary schema?  PostgreSQL drops those when the session ends, with
 * everything that depends on them, and no hook of ours judges that.  The
 * walk follows pg_depend into objects of any class (a column's type and
 * collation, a domain's base, a range's subtype, a composite type's
 * attributes and their collations, a function's argument types, ...), and
 * from a stand-alone composite type into its relation (whose attributes
 * depend on their types and collations; the type does not depend on it).
 */
typedef bool (*ObjectTest) (Oid classid, Oid objid);

static bool depends_on_such(Oid classid, Oid objid, int depth, ObjectTest such, ObjectAddress *hit);

static bool
depends_on_temporary(Oid classid, Oid objid, int depth)
{
	return depends_on_such(classid, objid, depth, object_in_temporary_schema, NULL);
}

/*
 * The same walk for any test of the objects it reaches (the namespaces
 * they are in included, which it does not go past); *hit: the object that
 * passed it.
 */
static bool
depends_on_such(Oid classid, Oid objid, int depth, ObjectTest such, ObjectAddress *hit)
{
	Relation	dep;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	if (depth > 4 || objid < FirstNormalObjectId)
		return false;
	CHECK_FOR_INTERRUPTS();
	if (classid == TypeRelationId)
	{
		Oid			typrelid = get_typ_typrelid(objid);

		if (OidIsValid(typrelid) && get_rel_relkind(typrelid) == RELKIND_COMPOSITE_TYPE)
		{
			if (such(RelationRelationId, typrelid))
			{
				if (hit)
					ObjectAddressSet(*hit, RelationRelationId, typrelid);
				return true;
			}
			if (depends_on_such(RelationRelationId, typrelid, depth + 1, such, hit))
				return true;
		}
	}
	dep = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_classid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(classid));
	ScanKeyInit(&key[1], Anum_pg_depend_objid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(objid));
	/* as this command left them: ALTER TABLE ... OF records one just now */
	scan = systable_beginscan(dep, DependDependerIndexId, true, SnapshotSelf, 2, key);
	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend d = (Form_pg_depend) GETSTRUCT(tup);

		if (d->refclassid == classid && d->refobjid == objid)
			continue;			/* a column on its own table */
		if (such(d->refclassid, d->refobjid))
		{
			found = true;
			if (hit)
				ObjectAddressSet(*hit, d->refclassid, d->refobjid);
		}
		else
			found = d->refclassid != NamespaceRelationId &&
				depends_on_such(d->refclassid, d->refobjid, depth + 1, such, hit);
	}
	systable_endscan(scan);
	table_close(dep, AccessShareLock);
	return found;
}

/* A type in a temporary schema, or one built on such (a domain, an array, a row type). */
static bool
type_is_temporary(Oid typid)
{
	HeapTuple	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	bool		temporary;

	if (!HeapTupleIsValid(tup))
		return false;
	temporary = isAnyTempNamespace(((Form_pg_type) GETSTRUCT(tup))->typnamespace);
	ReleaseSysCache(tup);
	return temporary || depends_on_temporary(TypeRelationId, typid, 0);
}

/*
 * The protected table a change of relid (attnum: a new column or
 * attribute) reaches: relid itself, or the protected table whose column
 * uses relid's row type; InvalidOid if none.
 */
static Oid
protected_user(Oid relid, int attnum)
{
	if (relation_protected(relid))
		return relid;
	if (attnum > 0 && OidIsValid(get_rel_type_id(relid)))
		return ag_structure_type_user(get_rel_type_id(relid));
	return InvalidOid;
}

/* A column's catalog row as this command left it, or NULL. */
static Form_pg_attribute
attribute_now(Oid relid, int attnum)
{
	ScanKeyData keys[2];
	HeapTuple	att;

	ScanKeyInit(&keys[0], Anum_pg_attribute_attrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	ScanKeyInit(&keys[1], Anum_pg_attribute_attnum, BTEqualStrategyNumber, F_INT2EQ,
				Int16GetDatum(attnum));
	att = row_now(AttributeRelationId, AttributeRelidNumIndexId, 2, keys);
	return att == NULL ? NULL : (Form_pg_attribute) GETSTRUCT(att);
}

/*
 * An agent's change to a protected table that leaves it depending on a
 * temporary object (ALTER TABLE ... OF a temporary type, a column of a
 * temporary type, domain or row type, or with a temporary collation, a
 * column of a composite type with one): the session's end would drop the
 * table or the column, humans' rows with it (red team 11, findings 8 and
 * 10; red team 12, finding 3).  The same for a new or altered attribute of
 * a relation whose row type a protected column uses (ALTER TYPE ... ADD
 * ATTRIBUTE, ALTER TABLE ... ADD COLUMN of that table): PostgreSQL would
 * drop the attribute, and the protected column's values of it.
 */
static void
reach_temporary_dependency(Oid relid, int attnum)
{
	bool		temporary;
	Oid			user = InvalidOid;

	user = protected_user(relid, attnum);
	if (!OidIsValid(user))
		return;
	if (attnum > 0)
	{
		/*
		 * a new column: PostgreSQL records its type's and collation's
		 * dependencies only after this
		 */
		Form_pg_attribute a = attribute_now(relid, attnum);

		if (a == NULL)
			return;
		temporary = type_is_temporary(a->atttypid) ||
			(OidIsValid(a->attcollation) &&
			 (object_in_temporary_schema(CollationRelationId, a->attcollation) ||
			  depends_on_temporary(CollationRelationId, a->attcollation, 0)));
	}
	else
		temporary = depends_on_temporary(RelationRelationId, relid, 0);
	if (!temporary)
		return;
	if (user == relid)
		refuse_now(psprintf("Protected table %s would depend on a temporary object of this session: when the session ends PostgreSQL drops it, and with it the table or its column, humans' rows included.",
							ag_qualified_relname(relid)));
	refuse_now(psprintf("The row type of %s, which protected table %s uses, would depend on a temporary object of this session: when the session ends PostgreSQL drops the attribute, and its values in humans' rows.",
						ag_qualified_relname(relid), ag_qualified_relname(user)));
}

/*
 * Is the object a member of an extension whose script does not make it:
 * one added by ALTER EXTENSION ... ADD?  An extension's script makes its
 * objects as a superuser (a trusted one as the bootstrap superuser), and
 * ALTER EXTENSION ... ADD takes an object its adder owns: a member that a
 * role which is not a superuser owns was added.
 */
static bool
object_added_to_extension(Oid classid, Oid objid)
{
	int			cache;
	AttrNumber	ownercol;
	HeapTuple	tup;
	bool		isnull;
	Datum		owner;
	bool		added = false;

	if (objid < FirstNormalObjectId || !is_objectclass_supported(classid) ||
		!OidIsValid(getExtensionOfObject(classid, objid)))
		return false;
	cache = get_object_catcache_oid(classid);
	ownercol = get_object_attnum_owner(classid);
	if (cache == -1 || ownercol == InvalidAttrNumber)
		return false;
	tup = SearchSysCache1(cache, ObjectIdGetDatum(objid));
	if (!HeapTupleIsValid(tup))
		return false;
	owner = SysCacheGetAttr(cache, tup, ownercol, &isnull);
	if (!isnull)
		added = !superuser_arg(DatumGetObjectId(owner));
	ReleaseSysCache(tup);
	return added;
}

/*
 * An agent's change to a protected table that leaves it relying on an
 * object added to an extension (ALTER EXTENSION ... ADD), directly or
 * through its schema, a domain's base, a composite type's attribute: a
 * column of such a type, domain or row type, or with such a collation
 * (ADD COLUMN, ALTER COLUMN ... TYPE, ALTER TABLE ... OF), also a new
 * attribute of a row type a protected column uses.  pg_dump leaves the
 * member out and the extension's script does not make it: the restore
 * loses the table, its rows, and the guard's list of protected tables
 * (red team 18a, finding 2; ALTER EXTENSION ... ADD of an object the table
 * already relies on is refused by structure.c).
 */
static void
reach_member_dependency(Oid relid, int attnum)
{
	Oid			user = InvalidOid;
	ObjectAddress hit = {InvalidOid, InvalidOid, 0};
	bool		found;

	user = protected_user(relid, attnum);
	if (!OidIsValid(user))
		return;
	if (attnum > 0)
	{
		/*
		 * a new column: PostgreSQL records its type's and collation's
		 * dependencies only after this
		 */
		Form_pg_attribute a = attribute_now(relid, attnum);

		if (a == NULL)
			return;
		if (object_added_to_extension(TypeRelationId, a->atttypid))
		{
			found = true;
			ObjectAddressSet(hit, TypeRelationId, a->atttypid);
		}
		else if (OidIsValid(a->attcollation) &&
				 object_added_to_extension(CollationRelationId, a->attcollation))
		{
			found = true;
			ObjectAddressSet(hit, CollationRelationId, a->attcollation);
		}
		else
			found = depends_on_such(TypeRelationId, a->atttypid, 0, object_added_to_extension, &hit) ||
				(OidIsValid(a->attcollation) &&
				 depends_on_such(CollationRelationId, a->attcollation, 0, object_added_to_extension, &hit));
	}
	else
		found = depends_on_such(RelationRelationId, relid, 0, object_added_to_extension, &hit);
	if (!found)
		return;
	{
		Oid			ext = getExtensionOfObject(hit.classId, hit.objectId);
		char	   *member = getObjectDescription(&hit, true);
		char	   *extname = OidIsValid(ext) ? get_extension_name(ext) : NULL;

		if (user == relid)
			refuse_now(psprintf("Protected table %s would rely on %s, which was added to extension \"%s\" (ALTER EXTENSION ... ADD): pg_dump leaves it out of the backup and the extension's script does not make it, so the restore would lose the table and its rows. Take it out of the extension first (ALTER EXTENSION ... DROP).",
								ag_qualified_relname(relid), member ? member : "an object",
								extname ? extname : "?"));
		refuse_now(psprintf("The row type of %s, which protected table %s uses, would rely on %s, which was added to extension \"%s\" (ALTER EXTENSION ... ADD): pg_dump leaves it out of the backup and the extension's script does not make it, so the restore would lose the table and its rows. Take it out of the extension first (ALTER EXTENSION ... DROP).",
							ag_qualified_relname(relid), ag_qualified_relname(user),
							member ? member : "an object", extname ? extname : "?"));
	}
}

/* From the object-access hook (hooks.c), after the previous hook. *//* From the object-access hook (hooks.c), after the previous hook. */
void
ag_reach_object_access(ObjectAccessType access, Oid classId, Oid objectId,
					   int subId, void *arg)
{
	if (access == OAT_POST_CREATE)
	{
		if (!ag_agent_latched() || !ag_judging())
			return;
		if (classId == ConstraintRelationId)
			reach_create_constraint(objectId);
		if (classId == RelationRelationId || classId == ConstraintRelationId ||
			classId == TriggerRelationId || classId == AttrDefaultRelationId)
			reach_create_structure(classId, objectId, subId);
		if (classId == RelationRelationId && subId == 0)
			reach_shadow_relation(objectId, true);
		if (classId == RelationRelationId && subId != 0)
		{
			reach_temporary_dependency(objectId, subId);
			reach_member_dependency(objectId, subId);
		}
		else if (classId == PublicationRelationId)
			reach_publication(objectId, true);
		else if (classId == PublicationRelRelationId)
			reach_publication_rel(objectId);
#ifdef AG_HAVE_PUBLICATION_SCHEMAS
		else if (classId == PublicationNamespaceRelationId)
			reach_publication_schema(objectId);
#endif
		return;
	}
	if (access != OAT_DROP && access != OAT_POST_ALTER && access != OAT_TRUNCATE)
		return;
	if (!ag_agent_latched() || !ag_judging())
		return;

	switch (access)
	{
		case OAT_TRUNCATE:
			reach_truncate(objectId);
			break;
		case OAT_DROP:
			{
				ObjectAccessDrop *d = (ObjectAccessDrop *) arg;

				/* PostgreSQL's own bookkeeping: transient heaps, cloned triggers */
				if (d != NULL && (d->dropflags & PERFORM_DELETION_INTERNAL))
					break;
				if (classId == RelationRelationId && subId == 0 &&
					get_rel_relkind(objectId) == RELKIND_INDEX)
				{
					reach_drop_key(classId, objectId);
					if (index_alone_unique(objectId))
						reach_drop_dependent(classId, objectId);
				}
				else if (classId == RelationRelationId)
					reach_drop(objectId, subId);
				else if (classId == ConstraintRelationId)
				{
					reach_drop_key(classId, objectId);
					if (constraint_relied_on(objectId))
						reach_drop_dependent(classId, objectId);
				}
				else if (classId == TriggerRelationId)
					reach_drop_trigger(objectId);
				else if (classId == AttrDefaultRelationId || classId == PolicyRelationId ||
						 classId == RewriteRelationId)
					reach_drop_dependent(classId, objectId);
				else if (subId == 0)
					reach_drop_foreign(classId, objectId);
				break;
			}
		case OAT_POST_ALTER:
			{
				ObjectAccessPostAlter *pa = (ObjectAccessPostAlter *) arg;

				/* a protected table made to depend on a temporary object */
				if (classId == RelationRelationId)
				{
					reach_temporary_dependency(objectId, subId);
					reach_member_dependency(objectId, subId);
				}
				if (classId == RelationRelationId && subId == 0)
				{
					if (relation_protected(objectId))
						reach_alter_relation(objectId);
					else
					{
						reach_alter_owned(classId, objectId);
						reach_alter_relied_name(classId, objectId);
						reach_shadow_relation(objectId, false);
					}
				}
				else if ((classId == ProcedureRelationId || classId == TypeRelationId) && subId == 0)
				{
					reach_alter_owned(classId, objectId);
					reach_alter_relied_name(classId, objectId);
				}
				else if ((classId == CollationRelationId || classId == OperatorRelationId ||
						  classId == OperatorClassRelationId ||
						  classId == OperatorFamilyRelationId) && subId == 0)
					reach_alter_relied_name(classId, objectId);
				else if (classId == TSConfigRelationId || classId == TSDictionaryRelationId)
					reach_alter_text_search(classId, objectId);
				else if (classId == RelationRelationId)
					reach_alter_column(objectId, subId);
				else if (classId == InheritsRelationId)
					reach_alter_inherits(objectId, pa ? pa->auxiliary_id : InvalidOid);
				else if (classId == NamespaceRelationId)
				{
					reach_alter_owned(classId, objectId);
					reach_alter_schema(objectId);
				}
				else if (classId == TriggerRelationId)
					reach_alter_trigger(objectId);
				else if (classId == ExtensionRelationId)
					reach_alter_extension(objectId);
				else if (classId == PublicationRelationId && subId == 0)
					reach_publication(objectId, false);
				break;
			}
		default:
			break;
	}
}
