/*-------------------------------------------------------------------------
 * tagshadow.h
 *		A tagged shared role's object named like a built-in one
 *		(tagshadow.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_TAGSHADOW_H
#define AG_TAGSHADOW_H

#include "catalog/objectaccess.h"

extern void ag_tagshadow_object_access(ObjectAccessType access, Oid classId, Oid objectId,
									   int subId);

#endif							/* AG_TAGSHADOW_H */
