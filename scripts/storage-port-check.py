#!/usr/bin/env python3
"""The storage port holds (docs/adr/0030-storage-port.md).

Usage: scripts/storage-port-check.py [RELAY_SRC_DIR]

Outside the SQLite adapter (`store/`) and the composition root (`server.rs`, `server/`,
`state.rs`, `main.rs`), no file of the relay may reach SQLite: name `rusqlite`, a `Connection`
or `Transaction`, the database handle (`.db.`, `Db::`), or its closures (`read_blocking`,
`write_blocking`), nor the blob directory (`BlobStore`: the blob port is
`storage::blobs::Blobs`, files or S3). Test modules at the end of a file (`#[cfg(test)]`) may: they test the
adapter.

WAITING lists the files that still do, each with why; it may only shrink: a file listed there
that no longer reaches SQLite fails the check too, so the list stays true. Exit 1 on any
finding, with file:line and the offending text.
"""

import os
import re
import sys

# Files not yet behind the port. Remove an entry when its file is converted.
WAITING = {
}

EXEMPT_DIRS = ("store/",)
EXEMPT_FILES = {"server.rs", "state.rs", "main.rs", "lib.rs"}
EXEMPT_PREFIXES = ("server/",)

STRING = re.compile(r'"(?:[^"\\]|\\.)*"')

PATTERNS = [
    re.compile(r"\brusqlite\b"),
    re.compile(r"&(?:mut\s+)?(?:rusqlite::)?(?:Connection|Transaction)\b"),
    re.compile(r"\.db\b(?!_)"),
    re.compile(r"\bDb\b"),
    re.compile(r"\b(?:read_blocking|write_blocking)\b"),
    # The blob files: the port is `storage::blobs::Blobs` (files or S3).
    re.compile(r"\bBlobStore\b"),
]


def code_lines(path):
    """(line number, text) of the code, without comments, up to a trailing test module."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    out = []
    for i, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped.startswith("#[cfg(test)]"):
            # A test module (or test-only item) at the end of the file: the adapter's tests.
            rest = "\n".join(lines[i:]).lstrip()
            if rest.startswith("mod ") or rest.startswith("#[allow") or rest.startswith("pub mod "):
                break
            continue
        if stripped.startswith("//"):
            continue
        code = STRING.sub('""', line)
        out.append((i, code.split("//")[0]))
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "relay/src"
    findings = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            if rel.startswith(EXEMPT_DIRS) or rel in EXEMPT_FILES or rel.startswith(EXEMPT_PREFIXES):
                continue
            if rel.endswith("tests.rs") or "/tests/" in rel:
                continue
            for number, text in code_lines(path):
                if any(p.search(text) for p in PATTERNS):
                    findings.setdefault(rel, []).append((number, text.strip()))
    failed = False
    for rel, hits in sorted(findings.items()):
        if rel in WAITING:
            continue
        failed = True
        print(f"{root}/{rel}: reaches SQLite outside the adapter (use the storage port):")
        for number, text in hits[:10]:
            print(f"  {number}: {text}")
    for rel in sorted(WAITING):
        if rel not in findings:
            failed = True
            print(f"{root}/{rel}: listed as waiting for the port but no longer reaches SQLite: "
                  "remove it from WAITING in scripts/storage-port-check.py")
    waiting = sorted(rel for rel in findings if rel in WAITING)
    if failed:
        return 1
    print(f"{root}: the storage port holds ({len(waiting)} file(s) still waiting: "
          f"{', '.join(waiting) if waiting else 'none'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
