/*-------------------------------------------------------------------------
 * outputpin.c
 *		The settings under which the guard prints values.
 *
 * A row image, a row key or a bound parameter printed with the agent's
 * own output settings reads otherwise than what was written, and a
 * rollback that writes the image back writes something else:
 * extra_float_digits = -15 printed 1234.5678 as 1000, TimeZone,
 * IntervalStyle and bytea_output made the images unequal to the rows
 * they came from (red team 15B, finding 1).  So everything the guard
 * prints for the record is printed with these settings, the ones
 * _rollback() and the other SQL functions that compare or write images
 * set with SET clauses:
 *
 *	TimeZone = UTC, DateStyle = 'ISO, YMD', IntervalStyle = postgres,
 *	extra_float_digits = 1, bytea_output = hex, lc_monetary = C,
 *	search_path = 'pg_catalog, pg_temp', quote_all_identifiers = off.
 *
 * These are all the settings the output functions of the built-in types
 * read (PostgreSQL 15 and 18, src/backend/utils/adt): the geometric types
 * print their coordinates as float8out does, with extra_float_digits
 * (red team 16, finding 3); regclass, regproc, regprocedure, regoper,
 * regoperator, regtype, regcollation, regconfig and regdictionary print a
 * name qualified only when search_path does not find it, so an agent's
 * search_path printed its own schema's objects unqualified (a rollback
 * reading them back under pg_catalog found others, or none), and every
 * reg* type quotes every name under quote_all_identifiers.  search_path is
 * the one the rollback's row work reads and writes with (rowwork.c): a
 * name prints schema-qualified unless it is in pg_catalog (or the
 * session's own temporary schema).  xmloption changes only how xml is
 * read, which the functions that read images back pin themselves.
 *
 * Pinning costs a GUC nest level and a set_config_option() per setting,
 * too much for every row: the row trigger prints floats and timestamptz
 * in the pinned form itself (capture.c) and pins only when a column's
 * type prints with a setting whose session value differs
 * (ag_output_differs(), a few comparisons).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_range.h"
#include "catalog/pg_type.h"
#include "common/shortest_dec.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/bytea.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/pg_locale.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "outputpin.h"

static const struct
{
	int			bit;
	const char *name;
	const char *value;
}			pinned[] = {
	{AG_PIN_TIMEZONE, "TimeZone", "UTC"},
	{AG_PIN_DATESTYLE, "DateStyle", "ISO, YMD"},
	{AG_PIN_INTERVAL, "IntervalStyle", "postgres"},
	{AG_PIN_FLOAT, "extra_float_digits", "1"},
	{AG_PIN_BYTEA, "bytea_output", "hex"},
	{AG_PIN_MONEY, "lc_monetary", "C"},
	{AG_PIN_SEARCH_PATH, "search_path", AG_PINNED_SEARCH_PATH},
	{AG_PIN_QUOTE, "quote_all_identifiers", "off"},
};

/*
 * Whether the session's time zone is UTC under one of its names (a server
 * whose system zone is UTC has TimeZone = 'Etc/UTC'): the last zone seen
 * is remembered, so that the check is one comparison.
 */
static pg_tz *last_tz = NULL;
static bool last_tz_utc = false;

static bool
session_zone_is_utc(void)
{
	static const char *const utc_names[] = {
		"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu", NULL
	};
	const char *name;
	int			i;

	if (session_timezone == last_tz && last_tz != NULL)
		return last_tz_utc;
	last_tz = session_timezone;
	last_tz_utc = false;
	name = session_timezone != NULL ? pg_get_timezone_name(session_timezone) : NULL;
	for (i = 0; name != NULL && utc_names[i] != NULL; i++)
		if (pg_strcasecmp(name, utc_names[i]) == 0)
			last_tz_utc = true;
	return last_tz_utc;
}

int
ag_output_differs(int mask)
{
	int			differ = 0;

	if ((mask & AG_PIN_TIMEZONE) && !session_zone_is_utc())
		differ |= AG_PIN_TIMEZONE;
	/* ISO prints the same whatever the field order */
	if ((mask & AG_PIN_DATESTYLE) && DateStyle != USE_ISO_DATES)
		differ |= AG_PIN_DATESTYLE;
	if ((mask & AG_PIN_INTERVAL) && IntervalStyle != INTSTYLE_POSTGRES)
		differ |= AG_PIN_INTERVAL;
	/* any value above 0 prints the shortest exact form */
	if ((mask & AG_PIN_FLOAT) && extra_float_digits <= 0)
		differ |= AG_PIN_FLOAT;
	if ((mask & AG_PIN_BYTEA) && bytea_output != BYTEA_OUTPUT_HEX)
		differ |= AG_PIN_BYTEA;
	if ((mask & AG_PIN_MONEY) && (locale_monetary == NULL || strcmp(locale_monetary, "C") != 0))
		differ |= AG_PIN_MONEY;
	/* the same list written otherwise is pinned too: a few comparisons less */
	if ((mask & AG_PIN_SEARCH_PATH) &&
		(namespace_search_path == NULL || strcmp(namespace_search_path, AG_PINNED_SEARCH_PATH) != 0))
		differ |= AG_PIN_SEARCH_PATH;
	if ((mask & AG_PIN_QUOTE) && quote_all_identifiers)
		differ |= AG_PIN_QUOTE;
	return differ;
}

int
ag_output_pin(int mask)
{
	int			differ = ag_output_differs(mask);
	int			level;
	int			i;

	if (differ == 0)
		return 0;
	level = NewGUCNestLevel();
	for (i = 0; i < (int) lengthof(pinned); i++)
		if (differ & pinned[i].bit)
			(void) set_config_option(pinned[i].name, pinned[i].value,
									 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
									 true, 0, false);
	return level;
}

void
ag_output_unpin(int level)
{
	if (level > 0)
		AtEOXact_GUC(true, level);
}

static int
type_deps(Oid typoid, int depth)
{
	HeapTuple	tup;
	Form_pg_type t;
	int			deps = 0;
	Oid			elem;
	char		typtype;
	if (depth > 16)
		return AG_PIN_ALL;
	check_stack_depth();
	typoid = getBaseType(typoid);
	switch (typoid)
	{
		case FLOAT4OID:
		case FLOAT8OID:
			return AG_PIN_FLOAT;
		case TIMESTAMPTZOID:
			return AG_PIN_TIMEZONE | AG_PIN_DATESTYLE;
		case DATEOID:
		case TIMESTAMPOID:
			return AG_PIN_DATESTYLE;
		case INTERVALOID:
			return AG_PIN_INTERVAL;
		case BYTEAOID:
			return AG_PIN_BYTEA;
		case MONEYOID:
			return AG_PIN_MONEY;
		/* coordinates print as float8out() prints a float8 */
		case POINTOID:
		case LSEGOID:
		case PATHOID:
		case BOXOID:
		case POLYGONOID:
		case LINEOID:
		case CIRCLEOID:
			return AG_PIN_FLOAT;
		/* a name, qualified when search_path does not find it */
		case REGPROCOID:
		case REGPROCEDUREOID:
		case REGOPEROID:
		case REGOPERATOROID:
		case REGCLASSOID:
		case REGCOLLATIONOID:
		case REGTYPEOID:
		case REGCONFIGOID:
		case REGDICTIONARYOID:
			return AG_PIN_SEARCH_PATH | AG_PIN_QUOTE;
		/* a schema's or role's name, never qualified */
		case REGNAMESPACEOID:
		case REGROLEOID:
			return AG_PIN_QUOTE;
		/* the usual types that print alike for everybody: no lookup */
		case BOOLOID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case NUMERICOID:
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case NAMEOID:
		case OIDOID:
		case UUIDOID:
		case JSONOID:
		case JSONBOID:
		case TIMEOID:
		case TIMETZOID:
		case UNKNOWNOID:
			return 0;
		default:
			break;
	}
	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typoid));
	if (!HeapTupleIsValid(tup))
		return AG_PIN_ALL;
	t = (Form_pg_type) GETSTRUCT(tup);
	typtype = t->typtype;
	elem = t->typelem;
	ReleaseSysCache(tup);

	if (OidIsValid(get_element_type(typoid)))
		return type_deps(elem, depth + 1);
	if (typtype == TYPTYPE_COMPOSITE)
	{
		TupleDesc	desc = lookup_rowtype_tupdesc(typoid, -1);
		int			i;

		for (i = 0; i < desc->natts; i++)
			if (!TupleDescAttr(desc, i)->attisdropped)
				deps |= type_deps(TupleDescAttr(desc, i)->atttypid, depth + 1);
		ReleaseTupleDesc(desc);
		return deps;
	}
	if (typtype == TYPTYPE_RANGE)
		return type_deps(get_range_subtype(typoid), depth + 1);
	if (typtype == TYPTYPE_MULTIRANGE)
		return type_deps(get_multirange_range(typoid), depth + 1);
	if (typtype == TYPTYPE_ENUM)
		return 0;
	/* a type not built in prints as its own output function pleases */
	if (typoid >= FirstNormalObjectId)
		return AG_PIN_ALL;
	/* record, anyarray and the like: whatever they hold */
	if (typtype == TYPTYPE_PSEUDO)
		return AG_PIN_ALL;
	return 0;
}

int
ag_output_type_deps(Oid typoid)
{
	return type_deps(typoid, 0);
}

/*
 * A relation's name for the record (agent_guard.events.relation): the
 * agent's quote_all_identifiers printed "app"."items", which names the
 * same table but is another text.  The setting is a plain variable, set
 * back whatever happens.
 */
char *
ag_quote_qualified(const char *nsp, const char *name)
{
	bool		save = quote_all_identifiers;
	char	   *volatile result = NULL;

	quote_all_identifiers = false;
	PG_TRY();
	{
		result = quote_qualified_identifier(nsp, name);
	}
	PG_FINALLY();
	{
		quote_all_identifiers = save;
	}
	PG_END_TRY();
	return result;
}

char *
ag_float8_text(double num)
{
	char	   *ascii = palloc(32);

	double_to_shortest_decimal_buf(num, ascii);
	return ascii;
}

char *
ag_float4_text(float num)
{
	char	   *ascii = palloc(32);

	float_to_shortest_decimal_buf(num, ascii);
	return ascii;
}
