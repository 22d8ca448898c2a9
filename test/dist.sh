#!/bin/bash
# The PGXN distribution: META.json follows the PGXN Meta Spec 1.0.0
# (test/meta.py), and "make dist" makes agent_guard-VERSION.zip of the
# committed tree, whose files are all in one directory of that name and whose
# META.json, checked again inside it, names files that are there.
# Prints one "ok - ..." or "not ok - ..." line per check.
#   usage: test/dist.sh WORKDIR      (from the top of a git checkout)
set -u
cd "$(dirname "$0")/.."
WORK=${1:?usage: test/dist.sh WORKDIR}
fail=0

python3 test/meta.py META.json . || fail=1

if ! git rev-parse --verify -q HEAD >/dev/null 2>&1; then
    echo "not ok - make dist: this tree is not a git checkout (make dist archives the committed tree)"
    exit 1
fi
version=$(python3 -c 'import json; print(json.load(open("META.json"))["version"])')
name=agent_guard-$version
out=$WORK/dist
rm -rf "$out" && mkdir -p "$out"
if make -s --no-print-directory dist DIST_DIR="$out" >"$out/make.log" 2>&1 && [ -f "$out/$name.zip" ]; then
    echo "ok - make dist writes $name.zip"
else
    cat "$out/make.log"
    echo "not ok - make dist writes $name.zip"
    exit 1
fi
python3 - "$out/$name.zip" "$name" "$out/unpacked" <<'PY' || fail=1
import subprocess, sys, zipfile
path, name, dest = sys.argv[1:]
z = zipfile.ZipFile(path)
names = z.namelist()
committed = subprocess.run(["git", "ls-tree", "-r", "--name-only", "HEAD"], capture_output=True, text=True, check=True).stdout.split()
def check(ok, what):
    print(("ok - " if ok else "not ok - ") + what)
    return ok
ok = check(all(n.startswith(name + "/") for n in names), f"every file of the zip is under {name}/")
files = {n[len(name) + 1:] for n in names if not n.endswith("/")}
need = ["META.json", "agent_guard.control", "Makefile", "README.md", "LICENSE",
        "cli/agent_guard_cli.c", "debian/control.in", "releases/agent_guard--1.0.sql"]
ok &= check(all(f in files for f in need) and any(f.startswith("src/") and f.endswith(".c") for f in files),
            "it has the C sources and the build's and packaging's files: " + ", ".join(need))
ok &= check(files == set(committed), f"it is the committed tree, nothing more or less ({len(files)} files)")
z.extractall(dest)
sys.exit(0 if ok else 1)
PY
python3 test/meta.py "$out/unpacked/$name/META.json" "$out/unpacked/$name" | sed 's/^\(not \)*ok - /&in the zip: /' \
    | tee "$out/meta.log"
grep -q '^not ok' "$out/meta.log" && fail=1
exit $fail
