/*-------------------------------------------------------------------------
 * tagshadow.h
 *		A tagged shared role's object named like a built-in one
 *		(tagshadow.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_TAGSHADOW_H
#define AG_TAGSHADOW_H

#include "catalog/objectaccess.h"
#include "nodes/nodes.h"

extern void ag_tagshadow_init(void);

/* This transaction created the object (agentstored.c). */
extern bool ag_tagshadow_made_in_xact(Oid classid, Oid objid);

/* OAT_POST_CREATE (hooks.c): what this transaction creates is its own. */
extern void ag_tagshadow_note_created(Oid classId, Oid objectId, int subId);

extern void ag_tagshadow_object_access(ObjectAccessType access, Oid classId, Oid objectId,
									   int subId, void *arg);

/* This transaction made the object (structure.c: a tagged GRANT or REVOKE). */
extern bool ag_tagshadow_made_here(Oid classid, Oid objid);

/* OAT_POST_CREATE (hooks.c): what a tagged transaction adds to an older table. */
extern void ag_tagshadow_older_addition(ObjectAccessType access, Oid classId, Oid objectId,
										int subId, void *arg);

/* A relation or routine that runs with its owner's rights: its description, or NULL. */
extern char *ag_tagshadow_rights_carrier(Oid classid, Oid objid);

/*
 * A change of the tagged role's older table, view, sequence or type
 * (gate.c): why, or NULL; *what names the act.
 */
extern char *ag_tagshadow_older_structure(Node *parsetree, const char **what);
extern char *ag_tagshadow_older_setval(Oid seqid);

#endif							/* AG_TAGSHADOW_H */
