/*-------------------------------------------------------------------------
 * approvalkey.h
 *		What an approval is bound to: the material of a statement's key and
 *		its SHA-256 digest (approvalkey.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_APPROVALKEY_H
#define AG_APPROVALKEY_H

#include "access/htup.h"
#include "access/tupdesc.h"
#include "common/cryptohash.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"

#define AG_KEY_DIGEST_LEN 32	/* SHA-256 */

/* A digest by value, so that it can be copied by assignment. */
typedef struct AgKeyDigest
{
	uint8		d[AG_KEY_DIGEST_LEN];
} AgKeyDigest;

struct PlannedStmt;
struct Query;

extern void ag_key_add_int(StringInfo m, uint64 v);
extern void ag_key_add_bytes(StringInfo m, const void *data, int len);
extern void ag_key_add_search_path(StringInfo m);
extern const char *const ag_key_read_settings[];
extern void ag_key_add_read_settings(StringInfo m);
extern pg_cryptohash_ctx *ag_key_stream_begin(void);
extern void ag_key_stream_add(pg_cryptohash_ctx *ctx, const void *data, Size len);
extern void ag_key_stream_add_field(pg_cryptohash_ctx *ctx, const void *data, Size len);
extern void ag_key_stream_end(pg_cryptohash_ctx *ctx, AgKeyDigest *out);
extern void ag_key_add_digest_of(StringInfo m, const void *data, Size len);
extern List *ag_key_bind_query(struct Query *q);
extern void ag_key_bind_plan(struct PlannedStmt *ps, List *binding);
extern void ag_key_add_plan(StringInfo m, struct PlannedStmt *ps,
							const char *source, int source_len);
extern void ag_key_add_functions(StringInfo m, List *funcs);
extern void ag_key_add_row(StringInfo m, HeapTuple tup, TupleDesc desc);
extern void ag_key_digest(const StringInfo m, AgKeyDigest *out);
extern uint64 ag_key_digest_u64(const AgKeyDigest *d);

#endif							/* AG_APPROVALKEY_H */
