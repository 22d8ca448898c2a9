/*-------------------------------------------------------------------------
 * relinfo.h
 *		What the row triggers know about a protected relation, cached per
 *		backend (capture.c owns the cache; softdelete.c reads it).
 *-------------------------------------------------------------------------
 */
#ifndef AG_RELINFO_H
#define AG_RELINFO_H

#include "postgres.h"
#include "fmgr.h"
#include "utils/rel.h"

#include "canon.h"

typedef struct AgJsonCol
{
	AgJsonKind	kind;
	Oid			base;			/* the base type */
	FmgrInfo	out;			/* output function (NUMBER, STRING) */
	bool		text;			/* STRING of text, varchar or bpchar: the
								 * output function's text is the value's */
} AgJsonCol;

typedef struct AgRelInfo
{
	Oid			relid;			/* hash key */
	bool		valid;
	Oid			root_relid;		/* top of the partition tree, or relid */
	AttrNumber	att_agent;		/* ag_agent_id */
	AttrNumber	att_run;		/* ag_run_id */
	AttrNumber	att_deleted;	/* ag_deleted_at, 0 if missing */
	Oid			keyidx;			/* primary key or replica identity index */
	int			nkeys;
	AttrNumber	keyattnos[INDEX_MAX_KEYS];
	char	   *relname;		/* qualified name of root_relid */
	FmgrInfo	to_jsonb;		/* to_jsonb() set up for this row type */
	AgJsonCol  *jcols;			/* per column, when every column has a
								 * simple type; NULL: use to_jsonb */
	int		   *jorder;			/* with jcols: the columns (indexes into
								 * the descriptor) in jsonb's key order */
	int			njorder;
	int			keypos[INDEX_MAX_KEYS];	/* with jcols: the key columns'
										 * places in jorder, ascending */
	int			nkeypos;
	struct AgImageFix *imgfix;	/* without jcols: the columns whose
								 * to_jsonb() may be inexact (rowimage.c),
								 * or NULL */
	int			pin_deps;		/* the output settings the image prints
								 * with (outputpin.h), pinned around it */
	bool		seqkeys_loaded; /* seqkeys below is current (seqkeys.c) */
	struct AgSeqKeys *seqkeys;	/* columns numbered by a sequence, or NULL
								 * for none (seqkeys.c owns it) */
	bool		soft_rows_loaded;	/* soft_rows below is current (softkeys.c) */
	bool		soft_rows;		/* protected_tables.soft_rows of the table's
								 * protection: may a row be soft-deleted? */
} AgRelInfo;

extern AgRelInfo *ag_relinfo_get(Relation rel);

/* softdelete.c */
extern void ag_soft_remember(HeapTuple oldtup, TupleDesc desc, AgRelInfo *info);
extern void ag_soft_check_insert(Relation rel, HeapTuple newtup, AgRelInfo *info);

/* seqkeys.c */
extern void ag_seqkeys_check(Relation rel, AgRelInfo *info, HeapTuple oldtup, HeapTuple newtup);
/* an agent may not draw a sequence that numbers a protected table below a margin */
extern void ag_seqroom_row(Relation rel, AgRelInfo *info);

#endif							/* AG_RELINFO_H */
