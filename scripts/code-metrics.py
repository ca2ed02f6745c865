#!/usr/bin/env python3
"""Layout metrics of lrx's source (issue 22's before/after numbers).

Usage: python3 scripts/code-metrics.py [SRC_DIR] [--json] [--list] [--edges]

Prints, for the Rust files under SRC_DIR (default: src/ next to this script):
- files over 800 lines (tests files, `*_tests.rs` and `*/tests.rs`, counted apart);
- functions over 100 lines (from the `fn` line to its closing brace; test code included);
- `pub` items without a doc comment (`pub` fn/struct/enum/trait/type/const/static/mod and
  `pub` fields, in non-test code; `pub(crate)` and `pub(super)` are not public);
- module cycles: strongly connected groups of the dependency graph between top-level modules
  (`src/<m>.rs` or `src/<m>/`), an edge m → n for every `crate::n` path in m's non-test code
  (`use` lines and inline paths), and between sibling files of one folder (`super::x` paths).

The counts are text-based (no Rust parser): braces inside raw strings or block comments can shift a
function's end. They are meant for before/after comparisons of the same code base.
"""
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

FN = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?(extern\s+\"C\"\s+)?fn\s+(\w+)")
PUB_ITEM = re.compile(r"^\s*pub\s+(fn|struct|enum|trait|type|const|static|mod|unsafe fn|async fn)\s+(\w+)")
PUB_FIELD = re.compile(r"^\s+pub\s+(\w+)\s*:")
CRATE_PATH = re.compile(r"crate::(\w+)")
SUPER_PATH = re.compile(r"super::(\w+)")


def is_test_file(p: Path) -> bool:
    return p.name.endswith("_tests.rs") or p.name == "tests.rs" or "tests" in p.parts[:-1]


def code_lines(lines):
    """The lines with string and char literals and `//` comments removed. A string may continue
    onto the next lines (a `\\` line continuation or a multi-line literal), so the state carries
    over; raw strings (`r#"…"#`) are not recognised."""
    out, in_str = [], False
    for line in lines:
        res, i, n = [], 0, len(line)
        while i < n:
            c = line[i]
            if in_str:
                if c == "\\":
                    i += 2
                    continue
                if c == '"':
                    in_str = False
                i += 1
                continue
            if c == "/" and line[i + 1 : i + 2] == "/":
                break
            if c == '"':
                in_str = True
                i += 1
                continue
            if c == "'":
                m = re.match(r"'(\\.|[^'\\])'", line[i:])
                if m:
                    i += len(m.group(0))
                    continue
            res.append(c)
            i += 1
        out.append("".join(res))
    return out


def functions(lines):
    """(name, start line, length) of every fn with a body."""
    out = []
    code = code_lines(lines)
    i = 0
    n = len(lines)
    while i < n:
        m = FN.match(lines[i])
        if not m:
            i += 1
            continue
        depth = 0
        opened = False
        j = i
        while j < n:
            s = code[j]
            if not opened and ";" in s and "{" not in s:
                break  # a declaration without a body (trait method)
            for ch in s:
                if ch == "{":
                    depth += 1
                    opened = True
                elif ch == "}":
                    depth -= 1
            if opened and depth <= 0:
                break
            j += 1
        if opened:
            out.append((m.group(7), i + 1, j - i + 1))
        i += 1
    return out


def test_ranges(lines):
    """Line ranges of `#[cfg(test)] mod … { … }` blocks."""
    ranges = []
    code = code_lines(lines)
    for i, l in enumerate(lines):
        if l.strip() == "#[cfg(test)]" and i + 1 < len(lines) and re.match(r"^\s*(pub\s+)?mod\s+\w+\s*\{", lines[i + 1]):
            depth = 0
            for j in range(i + 1, len(lines)):
                s = code[j]
                depth += s.count("{") - s.count("}")
                if depth <= 0 and "{" in "".join(lines[i + 1 : j + 1]):
                    ranges.append((i, j))
                    break
    return ranges


def module_file(p: Path, name: str):
    """The file of `mod name;` declared in `p`."""
    base = p.parent if p.name in ("mod.rs", "lib.rs", "main.rs") else p.parent / p.stem
    for c in (base / f"{name}.rs", base / name / "mod.rs"):
        if c.exists():
            return c
    return None


def undocumented(p: Path, lines, tests):
    out = []
    in_test = lambda k: any(a <= k <= b for a, b in tests)
    for i, l in enumerate(lines):
        if in_test(i):
            continue
        m = PUB_ITEM.match(l)
        f = PUB_FIELD.match(l) if not m else None
        if not (m or f):
            continue
        kind, name = (m.group(1), m.group(2)) if m else ("field", f.group(1))
        mm = re.match(r"^\s*pub\s+mod\s+(\w+)\s*;", l)
        if mm:
            target = module_file(p, mm.group(1))
            if target and target.read_text().lstrip().startswith("//!"):
                continue
        k = i - 1
        while k >= 0 and lines[k].strip().startswith("#"):
            k -= 1
        prev = lines[k].strip() if k >= 0 else ""
        if prev.startswith("///") or prev.startswith("//!") or prev.endswith("*/"):
            continue
        out.append((kind, name, i + 1))
    return out


def module_of(src: Path, p: Path) -> str:
    rel = p.relative_to(src)
    return rel.parts[0].removesuffix(".rs")


def sccs(graph):
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    src = Path(args[0]) if args else Path(__file__).resolve().parent.parent / "src"
    files = sorted(src.rglob("*.rs"))
    big, big_tests, long_fns, undoc = [], [], [], []
    top = defaultdict(set)
    sib = defaultdict(set)
    mod_names = {module_of(src, p) for p in files}
    for p in files:
        lines = p.read_text().splitlines()
        rel = str(p.relative_to(src))
        if len(lines) > 800:
            (big_tests if is_test_file(p) else big).append((rel, len(lines)))
        for name, start, n in functions(lines):
            if n > 100:
                long_fns.append((rel, name, start, n))
        if not is_test_file(p):
            tests = test_ranges(lines)
            undoc += [(rel, k, name, line) for k, name, line in undocumented(p, lines, tests)]
        m = module_of(src, p)
        if is_test_file(p):
            continue  # dependencies count non-test code only
        tests = test_ranges(lines)
        cl = code_lines(lines)
        code = "\n".join(l for k, l in enumerate(cl) if not any(a <= k <= b for a, b in tests))
        for n in set(CRATE_PATH.findall(code)):
            if n != m and n in mod_names:
                top[m].add(n)
        # sibling edges inside a folder: file a uses super::b
        if len(p.relative_to(src).parts) >= 2:
            folder = str(p.parent.relative_to(src))
            me = p.stem if p.stem != "mod" else None
            if me:
                for n in set(SUPER_PATH.findall(code)):
                    sib[(folder)].add((me, n))
    cycles = sccs({k: sorted(v) for k, v in top.items()})
    sib_cycles = []
    for folder, edges in sib.items():
        g = defaultdict(set)
        names = {a for a, _ in edges}
        for a, b in edges:
            if b in names and b != a:
                g[a].add(b)
        for c in sccs({k: sorted(v) for k, v in g.items()}):
            sib_cycles.append((folder, c))
    pub_items = 0
    for p in files:
        if is_test_file(p):
            continue
        for l in p.read_text().splitlines():
            if PUB_ITEM.match(l) or PUB_FIELD.match(l):
                pub_items += 1
    res = {
        "files": len(files),
        "lines": sum(len(p.read_text().splitlines()) for p in files),
        "files_over_800": len(big),
        "test_files_over_800": len(big_tests),
        "functions_over_100": len(long_fns),
        "pub_items": pub_items,
        "undocumented_pub_items": len(undoc),
        "module_cycles": [" ↔ ".join(c) for c in cycles],
        "sibling_cycles": [f"{f}: " + " ↔ ".join(c) for f, c in sib_cycles],
    }
    if "--json" in sys.argv:
        print(json.dumps(res, indent=2, ensure_ascii=False))
    else:
        for k, v in res.items():
            print(f"{k}: {v}")
    if "--edges" in sys.argv:
        print("\nmodule dependencies (m → n: m's code names crate::n):")
        for m in sorted(top):
            print(f"  {m} → {', '.join(sorted(top[m]))}")
    if "--list" in sys.argv:
        print("\nfiles over 800 lines:")
        for f, n in sorted(big, key=lambda x: -x[1]):
            print(f"  {n:5} {f}")
        print("functions over 100 lines:")
        for f, name, s, n in sorted(long_fns, key=lambda x: -x[3]):
            print(f"  {n:5} {f}:{s} {name}")


if __name__ == "__main__":
    main()
