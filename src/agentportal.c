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
 * The other way round (red team 8, finding 2): a cursor the human opened
 * ran its query with the human's rights, and an agent's code must not
 * fetch from it, move it or close it, a PL/pgSQL FOR loop's included (its
 * rows would go to the agent, or be missing from the human's loop).  A
 * FETCH through SPI (PL/pgSQL's FETCH, MOVE, CLOSE and cursor_to_xml) runs
 * no hook of ours before the rows come, from a store when the query was
 * run to completion already.  So while agent code runs in a human's
 * session, the ready portals it did not open are marked active, as
 * PostgreSQL marks the portal it is running: PostgreSQL itself then
 * refuses to run, move or drop them ("portal ... cannot be run", "cannot
 * drop active portal").  They are marked ready again when the agent's
 * outermost call ends, or aborts (fmgr reports the abort before the
 * error leaves the call, so before any (sub)transaction abort sees the
 * portal).  A transaction the agent's procedure ends while they are
 * marked would leave a portal of the ended transaction alive; so a CALL
 * of an agent's procedure that could end transactions runs atomic while
 * the human has a cursor of the transaction open (agentcode.c).  Cursors
 * held from earlier transactions stay safe: commit and abort leave them
 * as they are.
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
#include "utils/portal.h"

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

/*
 * The human's portals marked active while agent code runs: the portal and
 * its name, to find it again (a portal cannot be dropped while active).
 */
typedef struct HiddenPortal
{
	Portal		portal;
	char	   *name;
} HiddenPortal;

static HiddenPortal *hidden = NULL;
static int	nhidden = 0;
static int	hidden_cap = 0;

/* The portal whose context c is, when it is a known portal not opened by owner. */
static Portal
portal_of_other(MemoryContext c, Oid owner)
{
	PortalOpener *e;
	Portal		portal;

	if (strcmp(c->name, "PortalContext") != 0 || c->ident == NULL)
		return NULL;
	/* not known: opened since the last agent call, by the human */
	e = openers ? hash_search(openers, &c, HASH_FIND, NULL) : NULL;
	if (e != NULL && OidIsValid(e->fn) && e->owner == owner)
		return NULL;
	portal = GetPortalByName(c->ident);
	if (portal == NULL || portal->portalContext != c)
		return NULL;
	return portal;
}

/*
 * A call of agent role owner's code starts in a human's session, called by
 * the human's code or another's (after ag_agentportal_note): the ready
 * portals that code of another opened are marked active until
 * ag_agentportal_show() of the mark returned.
 */
int
ag_agentportal_hide(Oid owner)
{
	MemoryContext c;
	int			mark = nhidden;

	if (portal_parent == NULL)
		return mark;			/* ag_agentportal_note() found it first */
	for (c = portal_parent->firstchild; c != NULL; c = c->nextchild)
	{
		Portal		portal = portal_of_other(c, owner);

		if (portal == NULL || portal->status != PORTAL_READY)
			continue;
		if (nhidden == hidden_cap)
		{
			hidden_cap = hidden_cap ? hidden_cap * 2 : 8;
			hidden = hidden ? repalloc(hidden, hidden_cap * sizeof(HiddenPortal)) :
				MemoryContextAlloc(TopMemoryContext, hidden_cap * sizeof(HiddenPortal));
		}
		hidden[nhidden].portal = portal;
		hidden[nhidden].name = MemoryContextStrdup(TopMemoryContext, portal->name);
		nhidden++;
		portal->status = PORTAL_ACTIVE;
	}
	return mark;
}

/* The agent call that hid them ended: the portals hidden since mark are ready again. */
void
ag_agentportal_show(int mark)
{
	while (nhidden > mark)
	{
		HiddenPortal *h = &hidden[--nhidden];
		Portal		portal = GetPortalByName(h->name);

		if (portal == h->portal && portal->status == PORTAL_ACTIVE)
			portal->status = PORTAL_READY;
		pfree(h->name);
	}
}

/* Is the named portal one hidden from the agent's code running now? */
bool
ag_agentportal_hidden(const char *name)
{
	int			i;

	for (i = 0; i < nhidden; i++)
		if (strcmp(hidden[i].name, name) == 0 &&
			GetPortalByName(name) == hidden[i].portal)
			return true;
	return false;
}

/*
 * Has code other than owner's a cursor of this transaction open (not held
 * from an earlier one), ready or hidden?  A transaction that ended under
 * it would leave it behind (see above).
 */
bool
ag_agentportal_others_in_transaction(Oid owner)
{
	MemoryContext c;

	if (portal_parent == NULL && (portal_parent = find_portal_parent()) == NULL)
		return true;			/* cannot tell: as if there were */
	for (c = portal_parent->firstchild; c != NULL; c = c->nextchild)
	{
		Portal		portal = portal_of_other(c, owner);

		if (portal != NULL && portal->createSubid != InvalidSubTransactionId &&
			(portal->status == PORTAL_READY || ag_agentportal_hidden(portal->name)))
			return true;
	}
	return false;
}
