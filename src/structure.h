/*-------------------------------------------------------------------------
 * structure.h
 *		The gates' verdict on changes to the structure of protected tables
 *		(structure.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_STRUCTURE_H
#define AG_STRUCTURE_H

#include "classify.h"

/* Sets u's verdict (the strongest wins) on changes to protected tables. */
extern void ag_structure_classify(Node *parsetree, AgUtility *u);

/* The protected table whose rows a sequence numbers, or InvalidOid. */
extern Oid ag_structure_sequence_user(Oid seqid);

#endif							/* AG_STRUCTURE_H */
