/*-------------------------------------------------------------------------
 * agentportal.h
 *		Whose code opened each portal of a human's session (agentportal.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_AGENTPORTAL_H
#define AG_AGENTPORTAL_H

extern void ag_agentportal_note(Oid fn, Oid owner);
extern bool ag_agentportal_active_is_agents(Oid *fn, Oid *owner);
extern int	ag_agentportal_hide(Oid owner);
extern void ag_agentportal_show(int mark);
extern bool ag_agentportal_hidden(const char *name);
extern bool ag_agentportal_others_in_transaction(Oid owner);

#endif							/* AG_AGENTPORTAL_H */
