#!/usr/bin/env python3
"""Import circles between the module files of one Rust crate.

Usage: scripts/import-cycles.py CRATE_SRC_DIR [--allow A,B,...]

Reads every `*.rs` file under the directory, maps it to its module path (`src/a/b.rs` and
`src/a/b/mod.rs` are `a::b`; `lib.rs`/`main.rs` are the crate root), and collects the edges
`crate::x::y…` and `super::x…` written in its code (`use` items and paths alike; not in
comments or doc comments, nor in a `#[cfg(test)]` module at the end of a file). A path is resolved to the longest
module prefix that is a file of the crate. Edges to the crate root and to a module's own
ancestors (a child naming its parent module is how Rust nests, not a circle we can break by
moving code) are ignored, as are `*_tests.rs` / `tests.rs` files and `tests/` modules.

Strongly connected components with more than one file are printed, one per line, and the
script exits 1; `--allow` names a set of files (module paths, comma-separated) whose circle is
documented and accepted: a component that is exactly a subset of it does not fail.
"""

import os
import re
import sys

USE_RE = re.compile(r"\bcrate((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
SUPER_RE = re.compile(r"\b((?:super::)+)([A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*)")
USE_BLOCK_RE = re.compile(r"\buse\s+crate::\{(.*?)\};", re.S)


def module_of(root, path):
    rel = os.path.relpath(path, root)[: -len(".rs")].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    if rel in (["lib"], ["main"]):
        return ""
    return "::".join(rel)


def strip(text):
    # Drop `#[cfg(test)] mod … { … }` at the end of a file: test code may reach anywhere.
    m = re.search(r"#\[cfg\(test\)\]\s*(pub\s+)?mod\s+\w+\s*\{", text)
    if m:
        text = text[: m.start()]
    # Comments, doc comments included: a doc link is not an import.
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(re.sub(r"//.*$", "", line) for line in text.splitlines())


def expand_use_blocks(text):
    """`use crate::{a::B, c::{d, e}}` -> ['a::B', 'c::d', 'c::e'] (one level of nesting)."""
    out = []
    for block in USE_BLOCK_RE.findall(text):
        depth, cur, parts = 0, "", []
        for ch in block:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        parts.append(cur)
        for p in parts:
            p = re.sub(r"\s+", "", p)
            if not p:
                continue
            if "{" in p:
                head, rest = p.split("{", 1)
                for q in rest.rstrip("}").split(","):
                    out.append(head + q)
            else:
                out.append(p)
    return out


def main():
    args = sys.argv[1:]
    allow = set()
    if "--allow" in args:
        i = args.index("--allow")
        allow = set(a for a in args[i + 1].split(",") if a)
        del args[i : i + 2]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    root = args[0]
    files = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            if not n.endswith(".rs"):
                continue
            if n == "tests.rs" or n.endswith("_tests.rs"):
                continue
            p = os.path.join(dirpath, n)
            if "tests" in os.path.relpath(p, root).split(os.sep)[:-1]:
                continue
            files[module_of(root, p)] = p
    mods = set(files)
    edges = {m: set() for m in mods}
    for m, p in files.items():
        with open(p, encoding="utf-8") as f:
            text = strip(f.read())
        paths = [s.lstrip(":") for s in USE_RE.findall(text)]
        paths += expand_use_blocks(text)
        # `super::x` (possibly repeated) from module `a::b` is `a::x`.
        for sup, rest in SUPER_RE.findall(text):
            up = sup.count("super")
            base = m.split("::") if m else []
            if up > len(base):
                continue
            base = base[: len(base) - up]
            paths.append("::".join(base + [rest.lstrip(":")]) if base else rest.lstrip(":"))
        for path in paths:
            segs = path.split("::")
            target = None
            for k in range(len(segs), 0, -1):
                cand = "::".join(segs[:k])
                if cand in mods:
                    target = cand
                    break
            if not target or target == m:
                continue
            # a child naming an ancestor module (its own `mod.rs`) is nesting, not a circle
            if m.startswith(target + "::"):
                continue
            edges[m].add(target)

    # Tarjan's strongly connected components.
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(mods):
        if v not in index:
            visit(v)

    failed = False
    for comp in sorted(out):
        allowed = set(comp) <= allow
        tag = "allowed" if allowed else "CYCLE"
        print(f"{tag} ({len(comp)} files): {', '.join(comp)}")
        for v in comp:
            print(f"    {v} -> {', '.join(sorted(edges[v] & set(comp)))}")
        failed |= not allowed
    if not out:
        print(f"{root}: no import cycles ({len(mods)} module files)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
