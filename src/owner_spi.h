/*-------------------------------------------------------------------------
 * owner_spi.h
 *		Queries run as the extension owner (owner_spi.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_OWNER_SPI_H
#define AG_OWNER_SPI_H

#include "executor/spi.h"

#define AG_PLAN_MAX_ARGS 20

/* One query of ours: prepared once per backend, kept (SPI_keepplan). */
typedef struct AgKeptPlan
{
	const char *sql;
	int			nargs;
	Oid			argtypes[AG_PLAN_MAX_ARGS];
	SPIPlanPtr	plan;
} AgKeptPlan;

typedef struct AgOwnerSave
{
	Oid			userid;
	int			sec;
} AgOwnerSave;

typedef void (*AgOwnerWork) (void *arg);

extern bool ag_owner_running(void);
extern void ag_owner_become(AgOwnerSave *save, bool restricted);
extern void ag_owner_restore(const AgOwnerSave *save);
extern void ag_owner_spi(AgOwnerWork work, void *arg);
extern SPIPlanPtr ag_keep_plan(const char *sql, int nargs, const Oid *argtypes);
extern int	ag_kept_execute(AgKeptPlan *kp, Datum *values, const char *nulls,
							 bool read_only, long count);
extern int	ag_kept_execute_latest(AgKeptPlan *kp, Datum *values, const char *nulls,
									long count);

#endif							/* AG_OWNER_SPI_H */
