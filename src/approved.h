/*-------------------------------------------------------------------------
 * approved.h
 *		Destructive statements that wait for a human: could the agent run
 *		one, and the record of one that ran after approval (approved.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_APPROVED_H
#define AG_APPROVED_H

#include "nodes/pg_list.h"

typedef enum AgDestructiveAct
{
	AG_ACT_DROP,				/* DROP of a relation */
	AG_ACT_TRUNCATE,
	AG_ACT_ALTER				/* ALTER TABLE, RENAME, SET SCHEMA */
} AgDestructiveAct;

extern bool ag_agent_could(AgDestructiveAct act, Oid relid);
extern bool ag_agent_could_drop_database(const char *dbname);
extern bool ag_agent_could_drop_owned(List *roles);
extern bool ag_agent_could_drop_type(Oid typid);
extern bool ag_agent_owns_type(Oid typid);
extern void ag_approved_record(int64 request_id, const char *what, List *relids);

#endif							/* AG_APPROVED_H */
