/*-------------------------------------------------------------------------
 * rolename.h
 *		A new role name that an agent's schema already has (rolename.c).
 *-------------------------------------------------------------------------
 */
#ifndef AG_ROLENAME_H
#define AG_ROLENAME_H

#include "catalog/objectaccess.h"

extern void ag_rolename_object_access(ObjectAccessType access, Oid classId, Oid objectId,
									  int subId);

#endif							/* AG_ROLENAME_H */
