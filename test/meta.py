#!/usr/bin/env python3
"""Check a PGXN META.json against the PGXN Meta Spec 1.0.0.

Checks what the spec requires (its required keys and their types: name,
version, abstract, maintainer, license, provides, meta-spec), what it allows
(no other keys than the spec's and custom x_ ones; the optional keys' forms:
description, generated_by, tags, no_index, prereqs, release_status,
resources), and what this tree needs: the version is the control file's
default_version as a semantic version, and every file it names exists.

    usage: test/meta.py [META.json [TREE]]
Prints one "ok - ..." or "not ok - ..." line per check; exits 1 on a failure.
"""
import json
import os
import re
import sys

META = sys.argv[1] if len(sys.argv) > 1 else "META.json"
TREE = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(META))

# the spec's semantic version (2.0.0) and term
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
                    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$")
TERM = re.compile(r"^[^/\\\s\x00-\x1f\x7f]{2,}$")
LICENSES = {"agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2", "bsd", "freebsd",
            "gfdl_1_2", "gfdl_1_3", "gpl_1", "gpl_2", "gpl_3", "lgpl_2_1", "lgpl_3_0", "mit",
            "mozilla_1_0", "mozilla_1_1", "openssl", "perl_5", "postgresql", "qpl_1_0", "ssleay",
            "sun", "zlib", "open_source", "restricted", "unrestricted", "unknown"}
REQUIRED = ["name", "version", "abstract", "maintainer", "license", "provides", "meta-spec"]
OPTIONAL = ["description", "generated_by", "tags", "no_index", "prereqs", "release_status", "resources"]
PHASES = {"configure", "build", "test", "runtime", "develop"}
RELATIONS = {"requires", "recommends", "suggests", "conflicts"}
# a version range: a version (or 0), or comparisons joined by commas
RANGE_PART = re.compile(r"^\s*(?:(?:==|!=|>=|<=|>|<)\s*)?(\S+)\s*$")

failed = False


def check(ok, what):
    global failed
    print(("ok - " if ok else "not ok - ") + what)
    if not ok:
        failed = True
    return ok


def custom(key):
    return re.match(r"^[xX]_.", key) is not None


def nonempty_str(v):
    return isinstance(v, str) and len(v) >= 1


def is_version_range(v):
    if v == 0 or v == "0":
        return True
    if not isinstance(v, str):
        return False
    parts = v.split(",")
    for p in parts:
        m = RANGE_PART.match(p)
        if not m or not (m.group(1) == "0" or SEMVER.match(m.group(1))):
            return False
    return True


def is_license(v):
    if isinstance(v, str):
        return v in LICENSES
    if isinstance(v, list):
        return len(v) >= 1 and all(isinstance(x, str) and x in LICENSES for x in v)
    if isinstance(v, dict):
        return len(v) >= 1 and all(isinstance(u, str) and re.match(r"^[a-z][a-z0-9+.-]*:\S+$", u)
                                   for u in v.values())
    return False


def relative_path(p):
    return isinstance(p, str) and len(p) >= 1 and not p.startswith("/") and "\\" not in p \
        and ".." not in p.split("/")


try:
    with open(META, encoding="utf-8") as f:
        meta = json.load(f)
except (OSError, ValueError) as e:
    check(False, f"{META} parses as JSON ({e})")
    sys.exit(1)
check(isinstance(meta, dict), f"{META} is a JSON object")
if not isinstance(meta, dict):
    sys.exit(1)

missing = [k for k in REQUIRED if k not in meta]
check(not missing, "the spec's required keys are there: " + ", ".join(REQUIRED)
      + (f" (missing: {', '.join(missing)})" if missing else ""))
unknown = [k for k in meta if k not in REQUIRED + OPTIONAL and not custom(k)]
check(not unknown, "no key outside the spec but custom x_ ones"
      + (f" (unknown: {', '.join(unknown)})" if unknown else ""))

ms = meta.get("meta-spec")
check(isinstance(ms, dict) and isinstance(ms.get("version"), str)
      and re.match(r"^1\.0\.\d+$", ms["version"]) is not None
      and all(k in ("version", "url") or custom(k) for k in ms)
      and ms.get("url", "https://pgxn.org/meta/spec.txt") in ("https://pgxn.org/meta/spec.txt",
                                                            "http://pgxn.org/meta/spec.txt"),
      "meta-spec: version 1.0.x (and only version, url)")
check(isinstance(meta.get("name"), str) and TERM.match(meta["name"]) is not None,
      "name is a term (two characters or more, no slash, backslash, space or control character)")
check(isinstance(meta.get("version"), str) and SEMVER.match(meta["version"]) is not None,
      "version is a semantic version")
check(nonempty_str(meta.get("abstract")), "abstract is a non-empty string")
m = meta.get("maintainer")
check(nonempty_str(m) or (isinstance(m, list) and len(m) >= 1 and all(nonempty_str(x) for x in m)),
      "maintainer is a string or a non-empty list of strings")
check(is_license(meta.get("license")), "license is one of the spec's names, a list of them, or {name: URI}")

prov = meta.get("provides")
ok = isinstance(prov, dict) and len(prov) >= 1
for ext, p in (prov.items() if ok else []):
    ok = ok and TERM.match(ext) is not None and isinstance(p, dict) \
        and relative_path(p.get("file")) and isinstance(p.get("version"), str) \
        and SEMVER.match(p["version"]) is not None \
        and all(k in ("file", "version", "abstract", "docfile") or custom(k) for k in p) \
        and ("abstract" not in p or nonempty_str(p["abstract"])) \
        and ("docfile" not in p or relative_path(p["docfile"]))
check(ok, "provides: each extension has a file and a semantic version (abstract, docfile optional)")

# the optional keys, when present
if "description" in meta:
    check(nonempty_str(meta["description"]), "description is a non-empty string")
if "generated_by" in meta:
    check(nonempty_str(meta["generated_by"]), "generated_by is a non-empty string")
if "tags" in meta:
    t = meta["tags"]
    check(isinstance(t, list) and len(t) >= 1
          and all(isinstance(x, str) and 1 <= len(x) <= 255 for x in t), "tags: strings of 1 to 255 characters")
if "release_status" in meta:
    check(meta["release_status"] in ("stable", "testing", "unstable"),
          "release_status is stable, testing or unstable")
if "prereqs" in meta:
    pr = meta["prereqs"]
    ok = isinstance(pr, dict) and len(pr) >= 1
    for phase, rels in (pr.items() if ok else []):
        if custom(phase):
            continue
        ok = ok and phase in PHASES and isinstance(rels, dict) and len(rels) >= 1
        for rel, exts in (rels.items() if ok else []):
            if custom(rel):
                continue
            ok = ok and rel in RELATIONS and isinstance(exts, dict) and len(exts) >= 1 \
                and all(TERM.match(e) is not None and is_version_range(v) for e, v in exts.items())
    check(ok, "prereqs: phases, relationships and version ranges of the spec")
if "no_index" in meta:
    ni = meta["no_index"]
    check(isinstance(ni, dict) and all(k in ("file", "directory") or custom(k) for k in ni)
          and all(isinstance(v, (str, list)) for v in ni.values()), "no_index: file and directory")
if "resources" in meta:
    r = meta["resources"]
    check(isinstance(r, dict) and all(k in ("homepage", "bugtracker", "repository") or custom(k) for k in r),
          "resources: homepage, bugtracker, repository")

# what this tree needs
control = os.path.join(TREE, "agent_guard.control")
default = None
try:
    with open(control, encoding="utf-8") as f:
        mm = re.search(r"^default_version\s*=\s*'([^']+)'", f.read(), re.M)
        default = mm.group(1) if mm else None
except OSError:
    pass
semver = None
if default:
    semver = default + ".0" * (2 - default.count(".")) if default.count(".") < 2 else default
check(semver is not None and meta.get("version") == semver
      and isinstance(prov, dict) and all(isinstance(p, dict) and p.get("version") == semver for p in prov.values()),
      f"version and provides' versions are the control file's default_version {default!r} as {semver!r}")
files = [p.get(k) for p in (prov.values() if isinstance(prov, dict) else []) if isinstance(p, dict)
         for k in ("file", "docfile") if k in p]
check(bool(files) and all(isinstance(x, str) and os.path.isfile(os.path.join(TREE, x)) for x in files),
      "the files provides names exist: " + ", ".join(str(x) for x in files))

sys.exit(1 if failed else 0)
