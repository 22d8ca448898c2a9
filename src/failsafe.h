/*-------------------------------------------------------------------------
 * failsafe.h
 *		What refuses agents when the library is not preloaded (failsafe.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_FAILSAFE_H
#define AG_FAILSAFE_H

extern char *ag_preload_hint(void);
extern void ag_failsafe_check(const char *what);

#endif							/* AG_FAILSAFE_H */
