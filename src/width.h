/*-------------------------------------------------------------------------
 * width.h
 *		How wide a protected table's rows and index entries can get: the
 *		structure changes that would make humans' writes too big (width.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_WIDTH_H
#define AG_WIDTH_H

#include "nodes/pg_list.h"
#include "refusal.h"

/*
 * A protected table's columns as they are now (the running command's
 * changes included): AG_REFUSAL_APPROVAL, with a phrase for the request's
 * reason, when a row humans may write could come near what a heap page
 * holds, or the table near the column limit; else AG_REFUSAL_NONE.
 */
extern AgRefusalKind ag_width_row(Oid relid, char **why);

/*
 * An index of access method am on columns of relid (attnums, and the
 * columns' types and typmods): a phrase saying why a value humans may write
 * could make its entry longer than the access method takes, or NULL.
 */
extern const char *ag_width_index_key(Oid am, int n, const Oid *types, const int32 *typmods);

/*
 * nextval() of sequence seq in a default of column (of type coltype) of
 * protected table relid: a phrase saying why humans' inserts could fail
 * (an agent's sequence they may not use, that cycles or is nearly used
 * up), or NULL.
 */
extern const char *ag_width_sequence_unsafe(Oid seq, Oid relid, Oid coltype);

#endif							/* AG_WIDTH_H */
