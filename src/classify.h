/*-------------------------------------------------------------------------
 * classify.h
 *		The one classifier of utility statements, for the gates and the
 *		policies alike (classify.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_CLASSIFY_H
#define AG_CLASSIFY_H

#include "nodes/pg_list.h"
#include "refusal.h"

/* What a utility statement changes. */
typedef enum AgUtilityClass
{
	AG_UT_NONE = 0,				/* nothing outside the session */
	AG_UT_TEMP,					/* only temporary objects */
	AG_UT_SCRATCH,				/* only scratch: temporary objects or the
								 * permanent ones the session created */
	AG_UT_DATA,					/* data of permanent relations */
	AG_UT_DDL					/* the schema (or roles, grants, ...) */
} AgUtilityClass;

typedef struct AgUtility
{
	Node	   *stmt;			/* the statement as the client sent it */
	AgUtilityClass cls;			/* what it changes, wrappers looked through */
	List	   *targets;		/* non-scratch relations it changes (oids) */
	bool		unnamed_reach;	/* it changes relations it does not name:
								 * every one of a schema or of the database
								 * (REINDEX SCHEMA, VACUUM or CLUSTER of all,
								 * GRANT ... ON ALL TABLES IN SCHEMA) */
	AgKeyDigest binding;		/* what its names resolved to: an approval binds it */
	/* the gates' verdict on the statement itself (gate.c fills it) */
	AgRefusalKind verdict;
	const char *verdict_what;
	char	   *verdict_why;
	bool		approved;		/* a human's approval let the verdict pass */
	bool		unrunnable;		/* PostgreSQL would refuse the agent anyway */
	bool		subcommand;		/* run by another utility statement, which was
								 * judged on what it declares (CREATE TABLE's
								 * foreign keys) */
} AgUtility;

extern void ag_classify_utility(Node *parsetree, AgUtility *u);

/* Anything beyond the agent's scratch space (the policies' rule). */
static inline bool
ag_utility_beyond_scratch(const AgUtility *u)
{
	return u->cls == AG_UT_DATA || u->cls == AG_UT_DDL;
}

/*
 * Anything not temporary (the freeze's rule: a freeze holds for the
 * permanent objects the session created too, as in 1.1).
 */
static inline bool
ag_utility_writes(const AgUtility *u)
{
	return u->cls >= AG_UT_SCRATCH;
}

#endif							/* AG_CLASSIFY_H */
