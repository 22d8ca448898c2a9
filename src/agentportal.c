/*-------------------------------------------------------------------------
 * agentportal.c
 *		Whose code opened each portal (cursor) of a session that is not an
 *		agent's: the human's, or an agent function's.
 *
 * A cursor an agent's function opens over a query that PostgreSQL starts
 * only at the first FETCH (a query with RETURNING, a writing WITH, a
 * utility statement such as EXPLAIN ANALYZE: the portal runs it to
 * completion into its store then) would run with the rights of the human
 * who fetches it, after the agent's call returned (red team 6, finding 1).
 * agentcode.c runs it as the agent when asked here.
 *
 * PostgreSQL has no hook where a portal is created.  Every portal has a
 * memory context of its own, a child of the portal manager's, deleted
 * with the portal.  So whenever an agent's call starts or ends
 * (agentcode.c), the portals not known yet are attributed to the code
 * that ran until then: at a start, the caller (the human, or an outer
 * agent call); at an end or an abort, the agent's call that ends.  A
 * callback on a known portal's context forgets it when it goes, so a
 * later portal at the same address is unknown again and attributed
 * afresh.  A portal opened while no agent code ran, and seen by no such
 * event, is the human's.
 *
 * Cost: a walk of the open portals (a handful) and a hash lookup each,
 * at each start and end of an agent's call in a human's session; a
 * lookup of the active portal per statement started once an agent's code
 * opened one.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "nodes/memnodes.h"
#include "tcop/pquery.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "agentportal.h"

typedef struct PortalOpener
{
	MemoryContext cxt;			/* the portal's context: the key */
	Oid			fn;				/* the agent's function, or InvalidOid */
	Oid			owner;
} PortalOpener;

static HTAB *openers = NULL;
static MemoryContext portal_parent = NULL;
static int	agent_portals = 0;	/* entries with an agent's function */

/* The portal manager's context (its own variable is private to it). */
static MemoryContext
find_portal_parent(void)
{
	MemoryContext c;

	for (c = TopMemoryContext->firstchild; c != NULL; c = c->nextchild)
		if (strcmp(c->name, "TopPortalContext") == 0)
			return c;
	return NULL;
}

static void
forget_portal(void *arg)
{
	PortalOpener *e;

	if (openers == NULL)
		return;
	e = hash_search(openers, &arg, HASH_FIND, NULL);
	if (e == NULL)
		return;
	if (OidIsValid(e->fn))
		agent_portals--;
	(void) hash_search(openers, &arg, HASH_REMOVE, NULL);
}

/*
 * The portals open now that are not known yet were opened by fn of owner
 * (InvalidOid: by the human).
 */
void
ag_agentportal_note(Oid fn, Oid owner)
{
	MemoryContext c;

	if (portal_parent == NULL && (portal_parent = find_portal_parent()) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("agent_guard cannot find the portal manager's memory context"),
				 errhint("Build agent_guard against this server's headers.")));
	if (openers == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(MemoryContext);
		ctl.entrysize = sizeof(PortalOpener);
		ctl.hcxt = TopMemoryContext;
		openers = hash_create("agent_guard portal openers", 64, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	for (c = portal_parent->firstchild; c != NULL; c = c->nextchild)
	{
		PortalOpener *e;
		MemoryContextCallback *cb;
		bool		found;

		if (strcmp(c->name, "PortalContext") != 0)
			continue;			/* a portal's hold store */
		e = hash_search(openers, &c, HASH_ENTER, &found);
		if (found)
			continue;
		e->fn = fn;
		e->owner = owner;
		if (OidIsValid(fn))
			agent_portals++;
		cb = MemoryContextAlloc(c, sizeof(MemoryContextCallback));
		cb->func = forget_portal;
		cb->arg = c;
		MemoryContextRegisterResetCallback(c, cb);
	}
}

/*
 * Did an agent's code open the portal being run?  Sets the function and
 * its owner when it did.
 */
bool
ag_agentportal_active_is_agents(Oid *fn, Oid *owner)
{
	PortalOpener *e;
	MemoryContext cxt;

	if (agent_portals == 0 || ActivePortal == NULL)
		return false;
	cxt = ActivePortal->portalContext;
	e = hash_search(openers, &cxt, HASH_FIND, NULL);
	if (e == NULL || !OidIsValid(e->fn))
		return false;
	*fn = e->fn;
	*owner = e->owner;
	return true;
}
