#!/usr/bin/env python3
"""Import circles between the module files of one Rust crate.

Usage: scripts/import-cycles.py CRATE_SRC_DIR [--allow A,B,...]

Reads every `*.rs` file under the directory, maps it to its module path (`src/a/b.rs` and
`src/a/b/mod.rs` are `a::b`; `lib.rs`/`main.rs` are the crate root), and collects the edges
`crate::x::y…` and `super::x…` written in its code (`use` items and paths alike; `use` trees
with braces expanded; not in comments or doc comments, nor in a `#[cfg(test)]` module at the
end of a file). A path is resolved to the longest module prefix that is a file of the crate.
Edges to the crate root and to a module's own ancestors (a child naming its parent module is
how Rust nests, not a circle we can break by moving code) are ignored, as are `*_tests.rs` /
`tests.rs` files and `tests/` modules.

Strongly connected components (Tarjan) with more than one file are printed with their edges,
and the script exits 1. `--allow` names a set of files (module paths, comma-separated) whose
circle is documented and accepted: a component that lies within it does not fail.

CI (.ci/run, lint step) runs it on every crate of the workspace, e.g.
    scripts/import-cycles.py client-core/src --allow client::rotation,client::system
"""

import os
import re
import sys

USE_RE = re.compile(r"\bcrate((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
SUPER_RE = re.compile(r"\b((?:super::)+)([A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*)")
USE_ITEM_RE = re.compile(r"\buse\s+([^;]*?);", re.S)


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


def split_top(text):
    """Splits `a, b::{c, d}, e` at the commas outside braces."""
    depth, cur, parts = 0, "", []
    for ch in text:
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
    return [p for p in parts if p]


def expand_tree(tree):
    """`a::{b::C, d::{e, f}}` -> ['a::b::C', 'a::d::e', 'a::d::f'] (any depth; `self` dropped)."""
    tree = re.sub(r"\s+as\s+\w+", "", tree)
    tree = re.sub(r"\s+", "", tree)
    brace = tree.find("{")
    if brace < 0:
        return [tree]
    head, inner = tree[:brace], tree[brace + 1 : tree.rfind("}")]
    out = []
    for part in split_top(inner):
        for tail in expand_tree(part):
            out.append(head.rstrip(":") if tail == "self" else head + tail)
    return out


def use_paths(text):
    """Every path named by a `use` item whose tree has braces, fully expanded."""
    out = []
    for tree in USE_ITEM_RE.findall(text):
        if "{" in tree:
            out.extend(expand_tree(tree))
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
        supers = SUPER_RE.findall(text)
        for path in use_paths(text):
            if path.startswith("crate::"):
                paths.append(path[len("crate::") :])
            elif path.startswith("super::"):
                m2 = re.match(r"((?:super::)+)(.*)", path)
                supers.append((m2.group(1), m2.group(2)))
        # `super::x` (possibly repeated) from module `a::b` is `a::x`.
        for sup, rest in supers:
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
