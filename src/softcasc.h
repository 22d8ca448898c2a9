/*-------------------------------------------------------------------------
 * softcasc.h
 *		An agent's soft delete keeps the foreign-key semantics of the
 *		delete it asked for (softcasc.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_SOFTCASC_H
#define AG_SOFTCASC_H

#include "access/htup.h"
#include "utils/relcache.h"

extern void ag_softcasc_row(Relation rel, HeapTuple oldtup);

#endif							/* AG_SOFTCASC_H */
