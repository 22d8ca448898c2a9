/*-------------------------------------------------------------------------
 * compat.h
 *		Every difference between the PostgreSQL versions agent_guard builds
 *		against (14 to 17), and nothing else.
 *
 * Version drift is absorbed here once, so the rest of the code reads as if
 * there were a single server version.
 *-------------------------------------------------------------------------
 */
#ifndef AG_COMPAT_H
#define AG_COMPAT_H

#include "postgres.h"
#include "storage/proc.h"
#include "utils/guc.h"

#if PG_VERSION_NUM < 140000
#error "agent_guard requires PostgreSQL 14 or later"
#endif

/* MarkGUCPrefixReserved() is new in 15; 14 has the older name. */
#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/* The local transaction id moved into PGPROC.vxid in 17. */
#if PG_VERSION_NUM >= 170000
#define AG_MY_LXID (MyProc->vxid.lxid)
#else
#define AG_MY_LXID (MyProc->lxid)
#endif

/*
 * Shared memory is requested in shmem_request_hook from 15 on; on 14 it is
 * requested directly from _PG_init.
 */
#if PG_VERSION_NUM >= 150000
#define AG_HAVE_SHMEM_REQUEST_HOOK 1
#endif

#endif							/* AG_COMPAT_H */
