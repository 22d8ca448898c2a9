/*-------------------------------------------------------------------------
 * structure.h
 *		The gates' verdict on changes to the structure of protected tables
 *		(structure.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_STRUCTURE_H
#define AG_STRUCTURE_H

#include "catalog/pg_attribute.h"
#include "classify.h"
#include "refusal.h"

/* Sets u's verdict (the strongest wins) on changes to protected tables. */
extern void ag_structure_classify(Node *parsetree, AgUtility *u);

/* The protected table whose rows a sequence numbers, or InvalidOid. */
extern Oid ag_structure_sequence_user(Oid seqid);
extern Oid	ag_structure_owned_sequence_user(Oid relid, Oid *seq);

/* The protected relation whose rows show values of this type, or InvalidOid. */
extern Oid	ag_structure_type_user(Oid typid);

/*
 * What a statement really made or changed on a protected table, as the
 * object-access hook reports it (reach.c): the decision the direct act
 * gets (AG_REFUSAL_NONE, _APPROVAL with a phrase for the request's reason,
 * or _GUARD with a sentence).  *relid: the table the object is on;
 * *attnum: the column a NOT NULL constraint is on, else 0.
 */
extern AgRefusalKind ag_structure_new_index(Oid indexoid, Oid *relid, char **why);
extern AgRefusalKind ag_structure_new_constraint(Oid conoid, Oid *relid, int *attnum, char **why);
extern AgRefusalKind ag_structure_new_trigger(Oid trigoid, Oid *relid, char **why);
extern AgRefusalKind ag_structure_new_column(Oid relid, int attnum, char **why);
extern AgRefusalKind ag_structure_new_default(Oid relid, int attnum, char **why);
extern AgRefusalKind ag_structure_altered_column(Oid relid, Form_pg_attribute before,
												 Form_pg_attribute after, char **why);

/* A column default of a protected table dropped: ALTER COLUMN ... DROP DEFAULT's decision. */
extern AgRefusalKind ag_structure_dropped_default(Oid relid, int attnum, char **why);

/*
 * The protected table that relies on an object (a function, type, sequence,
 * table its foreign keys reference, schema), or InvalidOid; *why: a phrase
 * naming the object and what of the table uses it.
 */
extern Oid	ag_structure_relied_upon(Oid classid, Oid objid, char **why);

/*
 * A reliance walk that judges several objects in turn (an extension's new
 * members): it explores each catalog object once, in a memory context of
 * its own, deleted by ag_reliance_walk_end(); *why is allocated in the
 * context current at ag_reliance_walk_begin(), which _end() makes current
 * again.
 */
typedef struct AgRelianceWalk AgRelianceWalk;
extern AgRelianceWalk *ag_reliance_walk_begin(void);
extern void ag_reliance_walk_end(AgRelianceWalk *w);
extern Oid	ag_structure_relied_upon_in(AgRelianceWalk *w, Oid classid, Oid objid, char **why);

/* An Oid column of a catalog row found by its oid, or InvalidOid. */
extern Oid	ag_catalog_oid_field(Oid catalogid, AttrNumber oidcol, Oid objid, AttrNumber col);

#endif							/* AG_STRUCTURE_H */
