/*-------------------------------------------------------------------------
 * session.h
 *		The memory context of session state (session.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_SESSION_H
#define AG_SESSION_H

extern MemoryContext ag_session_memory(void);
extern char *ag_session_strdup(const char *s);

#endif							/* AG_SESSION_H */
