#!/usr/bin/env python3
"""The licenses of every crate in Cargo.lock (all platforms: what `cargo vendor` ships).

  licenses.py list                      one line per crate: name, version, SPDX expression
  licenses.py check ALLOWLIST           exit 1 when an expression cannot be met with the allowlist
  licenses.py copyright --vendor DIR    a Debian (DEP-5) copyright file with each crate's license texts

Reads `cargo metadata`, so it needs no network once the crates are in CARGO_HOME or vendor/.
"""

import json
import os
import re
import subprocess
import sys

OWN_PACKAGE = "tunnel-client"
# License files we copy verbatim; the Apache-2.0 text is referenced instead.
LICENSE_FILE = re.compile(r"^(LICEN[CS]E|COPYING|UNLICENSE|NOTICE)", re.IGNORECASE)
APACHE_FILE = re.compile(r"APACHE", re.IGNORECASE)
# The Apache-2.0 terms embedded in other license files (BoringSSL's, third-party notices).
APACHE_TERMS = re.compile(
    r"^[ \t]*Apache License\s*\n[ \t]*Version 2\.0, January 2004.*?END OF TERMS AND CONDITIONS[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
APACHE_REFERENCE = "[The Apache License 2.0: /usr/share/common-licenses/Apache-2.0]"


def packages():
    out = subprocess.run(
        ["cargo", "metadata", "--locked", "--format-version", "1"],
        check=True,
        stdout=subprocess.PIPE,
    ).stdout
    meta = json.loads(out)
    return sorted(meta["packages"], key=lambda p: (p["name"], p["version"]))


# --- SPDX expressions: OR binds looser than AND; WITH attaches an exception. ---


def tokenize(expr):
    return re.findall(r"\(|\)|[^\s()]+", expr.replace("/", " OR "))


def parse(tokens):
    """Returns a tree: ('or', [..]) / ('and', [..]) / ('id', 'MIT' or 'X WITH Y')."""
    pos = 0

    def primary():
        nonlocal pos
        if pos >= len(tokens):
            raise ValueError("expression ends too early")
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            node = disjunction()
            if pos >= len(tokens) or tokens[pos] != ")":
                raise ValueError("missing )")
            pos += 1
            return node
        if tok in ("AND", "OR", "WITH", ")"):
            raise ValueError(f"unexpected {tok}")
        if pos + 1 < len(tokens) and tokens[pos] == "WITH":
            tok = f"{tok} WITH {tokens[pos + 1]}"
            pos += 2
        return ("id", tok)

    def conjunction():
        nonlocal pos
        items = [primary()]
        while pos < len(tokens) and tokens[pos] == "AND":
            pos += 1
            items.append(primary())
        return items[0] if len(items) == 1 else ("and", items)

    def disjunction():
        nonlocal pos
        items = [conjunction()]
        while pos < len(tokens) and tokens[pos] == "OR":
            pos += 1
            items.append(conjunction())
        return items[0] if len(items) == 1 else ("or", items)

    tree = disjunction()
    if pos != len(tokens):
        raise ValueError(f"unexpected {tokens[pos]}")
    return tree


def satisfied(tree, allowed):
    kind, value = tree
    if kind == "id":
        return value in allowed
    if kind == "and":
        return all(satisfied(t, allowed) for t in value)
    return any(satisfied(t, allowed) for t in value)


def read_allowlist(path):
    allowed = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                allowed.add(line)
    return allowed


def cmd_list():
    for p in packages():
        print(f"{p['name']:<24} {p['version']:<12} {p['license'] or 'NONE'}")


def cmd_check(allowlist):
    allowed = read_allowlist(allowlist)
    bad = []
    seen = {}
    for p in packages():
        expr = p["license"]
        if not expr:
            bad.append(f"{p['name']} {p['version']}: no license in Cargo.toml")
            continue
        try:
            ok = satisfied(parse(tokenize(expr)), allowed)
        except ValueError as e:
            bad.append(f"{p['name']} {p['version']}: cannot read {expr!r}: {e}")
            continue
        seen.setdefault(expr, []).append(p["name"])
        if not ok:
            bad.append(f"{p['name']} {p['version']}: {expr} is not covered by {allowlist}")
    for expr, names in sorted(seen.items(), key=lambda kv: -len(kv[1])):
        print(f"{len(names):3}  {expr}")
    total = sum(len(n) for n in seen.values())
    if bad:
        print(f"licenses: {len(bad)} crate(s) outside the allowlist:", file=sys.stderr)
        for line in bad:
            print(f"  {line}", file=sys.stderr)
        return 1
    print(f"licenses: all {total} crates are covered by {allowlist}")
    return 0


def dep5_text(text):
    lines = []
    for line in text.replace("\t", "    ").splitlines():
        line = line.rstrip()
        lines.append(" " + line if line else " .")
    while lines and lines[-1] == " .":
        lines.pop()
    return "\n".join(lines)


def cmd_copyright(vendor):
    out = [
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/",
        "Upstream-Name: tunnel-client",
        "Comment: tunnel-client is statically linked with the Rust crates below",
        " (every crate in Cargo.lock, as vendored). Each paragraph carries the",
        " license files the crate ships, verbatim; the Apache License 2.0 text is",
        " in /usr/share/common-licenses/Apache-2.0.",
        "",
    ]
    for p in packages():
        expr = p["license"] or "UNKNOWN"
        authors = [a for a in p.get("authors") or [] if a.strip()]
        holders = authors or [f"the {p['name']} authors"]
        if p["name"] == OWN_PACKAGE:
            files = "*"
            texts = []
        else:
            directory = os.path.join(vendor, f"{p['name']}-{p['version']}")
            if not os.path.isdir(directory):
                print(f"copyright: {directory} is missing; run make vendor", file=sys.stderr)
                return 1
            files = f"vendor/{p['name']}-{p['version']}/*"
            texts = []
            for name in sorted(os.listdir(directory)):
                full = os.path.join(directory, name)
                if not os.path.isfile(full) or not LICENSE_FILE.match(name):
                    continue
                if APACHE_FILE.search(name):
                    continue
                with open(full, encoding="utf-8", errors="replace") as f:
                    text = APACHE_TERMS.sub(APACHE_REFERENCE, f.read())
                texts.append(f"{name}:\n\n{text}")
        out.append(f"Files: {files}")
        out.append("Copyright: " + "\n ".join(holders))
        out.append(f"License: {expr}")
        if texts:
            out.append(dep5_text("\n\n".join(texts)))
        elif "Apache-2.0" in expr:
            out.append(" See the Apache-2.0 paragraph below.")
        out.append("")
    out += [
        "License: Apache-2.0",
        " Licensed under the Apache License, Version 2.0 (the \"License\");",
        " you may not use this file except in compliance with the License.",
        " .",
        " On Debian systems, the complete text of the Apache License, Version 2.0",
        " can be found in \"/usr/share/common-licenses/Apache-2.0\".",
        "",
    ]
    sys.stdout.write("\n".join(out))
    return 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "list":
        cmd_list()
        return 0
    if len(argv) == 3 and argv[1] == "check":
        return cmd_check(argv[2])
    if len(argv) == 4 and argv[1] == "copyright" and argv[2] == "--vendor":
        return cmd_copyright(argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
