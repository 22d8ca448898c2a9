/*-------------------------------------------------------------------------
 * agentcache.c
 *		What the guard read of another agent's state (its freezes, its
 *		policy), kept per agent name until the shared state generation
 *		moves.
 *
 * A human's session runs the code of any number of agents (agentgate.c);
 * the gates read each one's freezes (gate.c) and policy (policy.c) once,
 * and read them again when a freeze, trip or policy changes anywhere,
 * which bumps the generation at commit (outbox.c).  A read that raced
 * such a change is used once and not kept, so the next statement reads
 * again.  What is returned stays valid until the next call that finds
 * the generation moved.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "agentcache.h"
#include "outbox.h"

typedef struct AgentEntry
{
	char	   *agent;
	void	   *data;
} AgentEntry;

void *
ag_agent_cache_get(AgAgentCache *cache, const char *agent)
{
	uint64		gen = ag_state_generation();
	ListCell   *lc;
	AgentEntry *e;
	MemoryContext old;

	if (cache->cxt == NULL)
	{
		cache->cxt = AllocSetContextCreate(TopMemoryContext, "agent_guard agent cache",
										   ALLOCSET_SMALL_SIZES);
		MemoryContextSetIdentifier(cache->cxt, cache->name);
	}
	if (gen != cache->gen)
	{
		MemoryContextReset(cache->cxt);
		cache->entries = NIL;
		cache->gen = gen;
	}
	foreach(lc, cache->entries)
	{
		e = (AgentEntry *) lfirst(lc);
		if (strcmp(e->agent, agent) == 0)
			return e->data;
	}

	e = MemoryContextAlloc(cache->cxt, sizeof(AgentEntry));
	e->agent = MemoryContextStrdup(cache->cxt, agent);
	e->data = MemoryContextAllocZero(cache->cxt, cache->entry_size);
	cache->fill(agent, e->data, cache->cxt);
	/* a read that raced a change is read again next time */
	if (ag_state_generation() == gen)
	{
		old = MemoryContextSwitchTo(cache->cxt);
		cache->entries = lappend(cache->entries, e);
		MemoryContextSwitchTo(old);
	}
	return e->data;
}
