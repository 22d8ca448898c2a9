/*-------------------------------------------------------------------------
 * agentcache.h
 *		Per-agent caches of the guard's shared state (agentcache.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_AGENTCACHE_H
#define AG_AGENTCACHE_H

#include "nodes/pg_list.h"

/* Reads what the cache keeps for agent into entry; strings go into cxt. */
typedef void (*AgAgentCacheFill) (const char *agent, void *entry, MemoryContext cxt);

typedef struct AgAgentCache
{
	const char *name;			/* names its memory context */
	Size		entry_size;		/* of what fill() writes */
	AgAgentCacheFill fill;
	/* kept by agentcache.c */
	List	   *entries;
	uint64		gen;
	MemoryContext cxt;
} AgAgentCache;

#define AG_AGENT_CACHE(name, type, fill) {(name), sizeof(type), (fill), NIL, 0, NULL}

extern void *ag_agent_cache_get(AgAgentCache *cache, const char *agent);

#endif							/* AG_AGENTCACHE_H */
