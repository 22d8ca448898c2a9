/*-------------------------------------------------------------------------
 * worker.h
 *		The launcher and the sealers (worker.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_WORKER_H
#define AG_WORKER_H

#include "datatype/timestamp.h"
#include "nodes/nodes.h"

extern void ag_worker_init(void);
extern void ag_worker_note_event(void);
extern void ag_worker_wake(Oid dboid);
extern Oid	ag_worker_before_utility(Node *stmt);
extern void ag_worker_after_utility(Oid dboid);
extern bool ag_worker_no_slot(Oid dboid, TimestampTz *since);
extern bool ag_worker_is_sealer(void);

#endif							/* AG_WORKER_H */
