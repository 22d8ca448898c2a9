# agent_guard: PGXS build, plus the two commands of the README:
#   make demo    build, install, start a throwaway cluster, replay an incident
#   make check   install what is missing, build, and run every test suite
# and the PGXN source distribution:
#   make dist    agent_guard-VERSION.zip of the committed tree (VERSION from META.json)
#
# "check" and "demo" run scripts that first install missing packages, so they
# must work before PGXS (postgresql-server-dev-15) is even on the machine.

EXTENSION = agent_guard
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" agent_guard.control)

MODULE_big = agent_guard
OBJS = $(patsubst %.c,%.o,$(wildcard src/*.c))
# The install script is built from one file per concern; upgrade scripts
# (agent_guard--A--B.sql) are written by hand and shipped as they are, and
# so are the install scripts of earlier releases (releases/), frozen as
# released, so that test/t/016_upgrade.pl can install one and update it.
DATA_built = agent_guard--$(EXTVERSION).sql
DATA = $(wildcard agent_guard--*--*.sql) $(wildcard releases/agent_guard--*.sql)
PG_CPPFLAGS = -Isrc
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers

# pg_regress suite: one file per feature, run in this order
REGRESS = install identity protect capture runs softdelete rollback rollback_random idempotency evidence postmortem hostile gates policies bypass capture_images rollback_replay evidence_content log_limits freeze_wrappers drops copyfrom rights structure reach scopes reliance guard_queries side_writes approval_text approval_once approval_key structure_humans agent_code agent_rights agent_code_paths cascade_owner procedure_commit setval_gate wal_messages postmortem_markdown structure_code run_per_agent log_line_escape request_text_cut agent_stored agent_cursors agent_session_state agent_extensions agent_as_other structure_defaults preview_escape approval_binding agent_code_calls key_squat structure_parents agent_stats agent_unjudged agent_code_gates reach_depends trigger_calls agent_temp_deps rt11_open rule_reach rt13_notify_settings rt14_open rt15_rule_ctes rt14_fix approval_objects postmortem_hidden agent_shadow agent_reads output_settings structure_rt15 vacuum_write agent_current_query rt17_reach shadow_ddl output_settings_types rt17_approvals rt17_pooled record_humans_only shadow_ddl2 shadow_ddl2_pg18 rt17_approval_cuts rt18_reach rt18_pooled rt18_shadows rt18_agent_code rt19_open rt20_reach rt20_open rt20_fix_reach rt20_fix_shadow rt22_open rt23_grants rt23_inherit rt23_rollback rt24_open rt25_open rt26_rollback rt26_open rt28_policy rt27_rollback rt28_pooled rt28_inherit rt29_purge rt29_keys rt29_types rt30_open human_writes rt31_width rt31_names rt31_softmv rt31_softkeys rt31_record rt31_open rt31_reach rt33_seqroom rt33_softfk rt33_merge rt33_madein rt33_ricasc rt33_softtrg rt33_caststat rt33_temporal rt33_domseq rt34_small rt34_seq rt34_tagcode rt34_tagolder rt35_tagstored rt35_tagnames rt35_seq rt35_tagrights rt36_roles rt36_keys rt36_softchild rt37_tagolder
REGRESS_OPTS = --temp-config=test/agent_guard.conf --load-extension=agent_guard

ISOLATION = concurrent_writers softdelete_race rollback_race idempotency_race idempotency_expiry gates_approval policy_change inserter_cache fk_reach index_lock rollback_lock seal_order rt17_approval_clock purge_race freeze_commit
ISOLATION_OPTS = --temp-config=test/agent_guard.conf --inputdir=test --load-extension=agent_guard

SCRIPT_GOALS = check demo deps dist
ifneq ($(filter $(SCRIPT_GOALS),$(MAKECMDGOALS)),)

.PHONY: $(SCRIPT_GOALS)
check:
	@./test/check.sh
demo:
	@./test/demo.sh
deps:
	@./test/deps.sh

# PGXN's source distribution: the committed tree (git archive of HEAD), in
# one directory named like the zip, written to DIST_DIR (default: here)
DIST_DIR ?= .
DISTVERSION = $(shell python3 -c 'import json; print(json.load(open("META.json"))["version"])')
dist:
	@test -n "$(DISTVERSION)" || { echo "no version in META.json" >&2; exit 1; }
	git archive --format=zip --prefix=$(EXTENSION)-$(DISTVERSION)/ \
		-o $(DIST_DIR)/$(EXTENSION)-$(DISTVERSION).zip HEAD

else

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifeq ($(PGXS),)
$(error pg_config --pgxs found nothing: install postgresql-server-dev-15 (or run "make check", which installs it as root))
endif
include $(PGXS)

# PGXS tracks no header dependencies: rebuild every object when a header
# changes (a stale object after an enum or struct change crashes the server)
$(OBJS): $(wildcard src/*.h)

# the agent-guard command line (cli/), installed next to psql
all: cli-build
install: install-cli
uninstall: uninstall-cli
clean: clean-cli
.PHONY: cli-build install-cli uninstall-cli clean-cli
cli-build:
	$(MAKE) -C cli PG_CONFIG=$(PG_CONFIG)
install-cli: cli-build
	$(MAKE) -C cli PG_CONFIG=$(PG_CONFIG) install
uninstall-cli:
	$(MAKE) -C cli PG_CONFIG=$(PG_CONFIG) uninstall
clean-cli:
	$(MAKE) -C cli clean

agent_guard--$(EXTVERSION).sql: $(sort $(wildcard src/sql/*.sql)) agent_guard.control
	cat $(sort $(wildcard src/sql/*.sql)) > $@

endif

# used by test/suites.sh to read the suite lists
print-%:
	@echo $($*)
