/*-------------------------------------------------------------------------
 * session.c
 *		The memory context of session state: what agent_guard keeps for the
 *		life of a backend.
 *
 * Caches and lists that must outlive a statement (the agent's latched
 * identity, its policy, the freeze state, the objects the session created,
 * a preview's rows) live in one named child of TopMemoryContext, so that
 * MemoryContextStats() shows what the guard holds, under one name, and
 * nothing of ours is allocated in TopMemoryContext itself.  Per-row and
 * per-statement work uses short-lived contexts of its own (capture.c,
 * softdelete.c, the workers' loop contexts).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "session.h"

static MemoryContext session_cxt = NULL;

MemoryContext
ag_session_memory(void)
{
	if (session_cxt == NULL)
		session_cxt = AllocSetContextCreate(TopMemoryContext, "agent_guard session",
											ALLOCSET_SMALL_SIZES);
	return session_cxt;
}

char *
ag_session_strdup(const char *s)
{
	return MemoryContextStrdup(ag_session_memory(), s);
}
