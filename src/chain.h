/*-------------------------------------------------------------------------
 * chain.h
 *		The hash chain over the event log (chain.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_CHAIN_H
#define AG_CHAIN_H

extern int64 ag_chain_seal(int max_events);
extern int64 ag_chain_seal_try(int max_events, bool *busy);
extern void ag_sha256(const uint8 *a, size_t alen, const uint8 *b, size_t blen, uint8 *out);

#endif							/* AG_CHAIN_H */
