#!/bin/bash
# The static checks: the C compiles cleanly with the project's flags
# (-Wall -Wextra -Werror, from the Makefile), and cppcheck and clang-tidy
# report nothing that is not in the checked-in baseline.
#
# Findings are compared without line numbers ("file: check: message"), so
# moving code does not make an old finding new.  To accept a finding (a
# false positive, or one judged harmless), add its line, as printed under
# "new findings", to test/static/cppcheck.baseline or clang-tidy.baseline
# with a comment above it saying why.
#   usage: test/static/run.sh OUTDIR     prints one "ok"/"not ok" line per check
set -u
OUT=$1
mkdir -p "$OUT"
INC=$(pg_config --includedir-server)
BASE=test/static
fail=0

result() {  # name rc
    if [ "$2" = 0 ]; then echo "ok - $1"; else echo "not ok - $1"; fail=1; fi
}

# 1. compiler: a fresh build of every file with the Makefile's flags
make -s clean >/dev/null 2>&1
make -s >"$OUT/compile.log" 2>&1
rc=$?
[ $rc = 0 ] || head -c 20000 "$OUT/compile.log"
result "compile src/*.c with -Wall -Wextra -Werror" $rc

# keep the lines that are findings, drop line/column numbers and comments
normalise() {
    sed -E -n "s#^(${PWD}/)?(src/[^:]+):[0-9]+(:[0-9]+)?: #\2: #p" | sort
}

# compare $1 (findings) with the baseline $2; print and fail on new ones
compare() {  # name findings baseline
    local new
    new=$(comm -23 "$2" <(grep -v '^#' "$3" | grep -v '^$' | sort))
    if [ -n "$new" ]; then
        echo "--- new $1 findings (fix them, or baseline them in $3 with a reason):"
        echo "$new"
        return 1
    fi
    return 0
}

# 2. cppcheck: warnings, portability and performance in our files only
if command -v cppcheck >/dev/null; then
    cppcheck --quiet --enable=warning,portability,performance --std=c99 --inline-suppr \
        -Isrc -I"$INC" --max-configs=1 --suppress=missingIncludeSystem "--suppress=*:$INC/*" \
        --template='{file}:{line}: {id}: {message}' -j2 src/*.c 2>"$OUT/cppcheck.raw" >/dev/null
    normalise <"$OUT/cppcheck.raw" >"$OUT/cppcheck.txt"
    compare cppcheck "$OUT/cppcheck.txt" "$BASE/cppcheck.baseline"
    rc=$?
    result "cppcheck: nothing new ($(wc -l <"$OUT/cppcheck.txt") findings, all in the baseline)" $rc
else
    echo "cppcheck is not installed (package cppcheck)"
    result "cppcheck" 1
fi

# 3. clang-tidy: the static analyzer and the bug-prone checks that make
# sense for C written against PostgreSQL's macros
CHECKS='-*,clang-analyzer-*,bugprone-*,-bugprone-easily-swappable-parameters'
CHECKS="$CHECKS,-bugprone-reserved-identifier,-bugprone-narrowing-conversions"
CHECKS="$CHECKS,-bugprone-branch-clone,-bugprone-macro-parentheses"
CHECKS="$CHECKS,-clang-analyzer-security.insecureAPI.*"
if command -v clang-tidy >/dev/null; then
    clang-tidy --quiet -checks="$CHECKS" src/*.c -- -Isrc -I"$INC" -std=gnu99 -D_GNU_SOURCE \
        >"$OUT/clang-tidy.raw" 2>"$OUT/clang-tidy.err"
    grep -E ': (warning|error): ' "$OUT/clang-tidy.raw" | normalise >"$OUT/clang-tidy.txt"
    compare clang-tidy "$OUT/clang-tidy.txt" "$BASE/clang-tidy.baseline"
    rc=$?
    result "clang-tidy: nothing new ($(wc -l <"$OUT/clang-tidy.txt") findings, all in the baseline)" $rc
else
    echo "clang-tidy is not installed (package clang-tidy)"
    result "clang-tidy" 1
fi
exit $fail
