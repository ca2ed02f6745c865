#!/usr/bin/env python3
"""Checks the TextMate grammar of editors/vscode on the repository's specs.

A small TextMate tokenizer (match, begin/end, captures, include, per-line like an editor) runs
the grammar over every `.lrx` file given (default: specs/ and stdlib/) and over the `lrx` code
blocks of docs/; an independent lexer then says where the comments, strings, numbers, units,
keywords, definitions, block heads, keys, named arguments and builtin calls are, and each must
carry its scope. Also: every regex compiles, every scope ends in `.lrx`, the grammar knows
every builtin (`--builtins a,b,...`, from the registry), and a grammar with a rule removed
fails (the check can fail).

Usage: tmgrammar_check.py [--builtins NAMES] [--helpers NAMES] [FILES...]
Exit 0 when every check holds; 1 with the failures listed.
"""

import copy
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GRAMMAR = ROOT / "editors/vscode/syntaxes/lrx.tmLanguage.json"

# ------------------------------------------------------------------------------------------
# The tokenizer


class Grammar:
    def __init__(self, doc):
        self.doc = doc
        self.repo = doc.get("repository", {})
        self.cache = {}

    def rules(self, patterns):
        """Flattens `include`s into a list of concrete rules."""
        out = []
        for p in patterns:
            if "include" in p:
                ref = p["include"]
                if ref == "$self":
                    out.extend(self.rules(self.doc["patterns"]))
                else:
                    target = self.repo[ref.lstrip("#")]
                    if "match" in target or "begin" in target:
                        out.append(target)
                    else:
                        out.extend(self.rules(target.get("patterns", [])))
            elif "match" in p or "begin" in p:
                out.append(p)
            else:
                out.extend(self.rules(p.get("patterns", [])))
        return out

    def regex(self, src):
        if src not in self.cache:
            self.cache[src] = re.compile(src)
        return self.cache[src]


def apply(scopes, m, name, captures):
    """Adds the scope of a match and its captures to the per-character scope lists."""
    if name:
        for i in range(m.start(), m.end()):
            scopes[i].append(name)
    for k, c in (captures or {}).items():
        g = int(k)
        if g <= (m.re.groups) and m.start(g) >= 0 and "name" in c:
            for i in range(m.start(g), m.end(g)):
                scopes[i].append(c["name"])


def tokenize(grammar, text):
    """Per-character scope lists of `text` (lists of scope names, outermost first)."""
    stack = []  # (rule, end regex)
    out = []
    for line in text.split("\n"):
        scopes = [[] for _ in line]
        # Scopes of the open begin/end rules cover the line.
        for rule, _ in stack:
            if rule.get("name"):
                for s in scopes:
                    s.append(rule["name"])
        pos = 0
        while pos <= len(line):
            if stack:
                rule, end = stack[-1]
                candidates = [("end", end, rule)] + [
                    ("rule", grammar.regex(r.get("match") or r["begin"]), r)
                    for r in grammar.rules(rule.get("patterns", []))
                ]
            else:
                candidates = [
                    ("rule", grammar.regex(r.get("match") or r["begin"]), r)
                    for r in grammar.rules(grammar.doc["patterns"])
                ]
            best = None
            for kind, rx, r in candidates:
                m = rx.search(line, pos)
                if m and (best is None or m.start() < best[1].start()):
                    best = (kind, m, r)
            if best is None:
                break
            kind, m, r = best
            if kind == "end":
                apply(scopes, m, None, r.get("endCaptures") or r.get("captures"))
                stack.pop()
            elif "match" in r:
                apply(scopes, m, r.get("name"), r.get("captures"))
            else:
                apply(scopes, m, r.get("name"), r.get("beginCaptures") or r.get("captures"))
                stack.append((r, grammar.regex(r["end"])))
                # The rule's own scope covers the rest of the line.
                if r.get("name"):
                    for s in scopes[m.end():]:
                        s.append(r["name"])
            if kind == "end" and r.get("name"):
                for s in scopes[m.end():]:
                    if r["name"] in s:
                        s.remove(r["name"])
            if m.end() > pos:
                pos = m.end()
            elif kind == "rule" and "match" in r:
                pos += 1  # an empty match where we are: move on
            elif kind == "rule" and len(stack) > 200:
                break  # an empty begin that keeps matching: stop this line
        out.append(scopes)
    return out


# ------------------------------------------------------------------------------------------
# The independent lexer: where things are, without the grammar.

KEYWORDS = {"import", "as", "where", "in"}
DEF_KINDS = {"let", "task", "arch", "rule", "schedule", "noise", "classifier", "split", "cv"}
UNITS = {"epochs", "epoch", "cpu_hours", "cpu_hour", "gpu_hours", "gpu_hour", "pixels", "px"}
TOKEN = re.compile(
    r'(?P<comment>//[^\n]*|/\*.*?\*/)|(?P<string>"(?:\\.|[^"\\\n])*"?)'
    r"|(?P<number>[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<space>[ \t]+)|(?P<newline>\n)|(?P<punct>==|!=|<=|>=|&&|\|\||.)",
    re.S,
)


def lex(text):
    toks = []
    for m in TOKEN.finditer(text):
        kind = m.lastgroup
        if kind in ("space",):
            continue
        toks.append((kind, m.start(), m.end(), m.group()))
    return toks


def expectations(text, builtins):
    """(start, end, scope prefix, what) for every place whose scope is known."""
    toks = lex(text)
    sig = [t for t in toks if t[0] not in ("comment", "newline")]
    exp = []
    for kind, s, e, v in toks:
        if kind == "comment":
            exp.append((s, e, "comment.", "comment"))
        elif kind == "string":
            exp.append((s, e, "string.quoted.double.lrx", "string"))
    # Brackets: what each open one is (call, paren, list, block, map).
    stack = []
    line_start = True
    prev = None
    for i, (kind, s, e, v) in enumerate(toks):
        if kind == "newline":
            line_start = True
            continue
        if kind == "comment":
            continue
        nxt = next((t for t in toks[i + 1:] if t[0] not in ("comment", "newline")), None)
        nxt_same_line = next((t for t in toks[i + 1:] if t[0] != "comment"), None)
        inside = stack[-1] if stack else "top"
        entry_start = line_start or (prev is not None and prev[3] in ("{", ","))
        if kind == "number":
            exp.append((s, e, "constant.numeric.lrx", "number " + v))
            after = nxt_same_line
            if after and after[0] == "punct" and after[3] == "%" and after[1] == e:
                exp.append((after[1], after[2], "keyword.other.unit.lrx", "unit %"))
            elif after and after[0] == "ident" and after[3] in UNITS and text[e:after[1]].strip(" \t") == "":
                exp.append((after[1], after[2], "keyword.other.unit.lrx", "unit " + after[3]))
        elif kind == "ident":
            touching_paren = nxt and nxt[3] == "(" and nxt[1] == e
            after_dot = prev is not None and prev[3] == "." and prev[2] == s
            if v in KEYWORDS:
                exp.append((s, e, "keyword.", "keyword " + v))
            elif v in builtins and touching_paren and not after_dot:
                exp.append((s, e, "support.function.builtin.lrx", "builtin " + v))
            elif inside == "top" and line_start and v in DEF_KINDS and nxt and nxt[0] == "ident":
                after = sig[sig.index((kind, s, e, v)) + 2] if sig.index((kind, s, e, v)) + 2 < len(sig) else None
                if after and after[3] == "=":
                    exp.append((s, e, "storage.type.lrx", "definition kind " + v))
                    exp.append((nxt[1], nxt[2], "variable.other.definition.lrx", "definition " + nxt[3]))
            elif inside in ("top", "block") and entry_start and nxt and nxt[3] in ("=", "in"):
                exp.append((s, e, "variable.other.property.lrx", "key " + v))
            elif inside == "call" and prev is not None and prev[3] in ("(", ",") and nxt and nxt[3] in ("=", "in"):
                exp.append((s, e, "variable.parameter.lrx", "argument " + v))
            elif inside in ("top", "block") and entry_start and not after_dot:
                # `kind [path] {`: a block head.
                j = i + 1
                rest = [t for t in toks[i + 1:] if t[0] not in ("comment", "newline")]
                k = 0
                while k < len(rest) and (rest[k][0] == "ident" or rest[k][3] == "."):
                    k += 1
                if k < len(rest) and rest[k][3] == "{" and not (k > 0 and rest[0][3] == "."):
                    exp.append((s, e, "keyword.other.block.lrx", "block " + v))
        elif kind == "punct":
            if v == "(":
                is_call = prev is not None and prev[0] == "ident" and prev[2] == s
                stack.append("call" if is_call else "paren")
            elif v == "[":
                stack.append("list")
            elif v == "{":
                is_block = prev is not None and prev[0] == "ident" and prev[3] not in KEYWORDS
                stack.append("block" if is_block else "map")
            elif v in ")]}" and stack:
                stack.pop()
        prev = (kind, s, e, v)
        line_start = False
    return exp


# ------------------------------------------------------------------------------------------
# The checks


def lrx_blocks(md):
    """The ```lrx code blocks of a Markdown file."""
    return re.findall(r"^```lrx\n(.*?)^```", md, re.S | re.M)


def check_text(grammar, name, text, builtins):
    lines = tokenize(grammar, text)
    flat = []
    for scopes in lines:
        flat.extend(scopes)
        flat.append([])  # the newline
    failures = []
    for s, e, want, what in expectations(text, builtins):
        for i in range(s, e):
            if not any(sc.startswith(want) for sc in flat[i]):
                line = text.count("\n", 0, s) + 1
                failures.append(
                    f"{name}:{line}: {what}: `{text[s:e]}` has {flat[i]}, expected {want}"
                )
                break
    return failures


def check_grammar_shape(doc, builtins, helpers):
    failures = []

    def walk(x):
        if isinstance(x, dict):
            for k, v in x.items():
                if k in ("match", "begin", "end"):
                    try:
                        re.compile(v)
                    except re.error as e:
                        failures.append(f"regex {v!r} does not compile: {e}")
                if k == "name" and isinstance(v, str) and not v.endswith(".lrx"):
                    failures.append(f"scope {v!r} does not end in .lrx")
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(doc["repository"])
    walk(doc["patterns"])
    calls = json.dumps(doc["repository"]["call"])
    for b in builtins:
        if not re.search(r"[(|]" + re.escape(b) + r"[|)]", calls):
            failures.append(f"the grammar does not know the builtin `{b}`")
    for h in helpers:
        if not re.search(r"[(|]" + re.escape(h) + r"[|)]", calls):
            failures.append(f"the grammar does not know the helper `{h}`")
    return failures


def inputs(files):
    if files:
        return [(f, Path(f).read_text()) for f in files]
    out = []
    for d in ("specs", "stdlib"):
        for p in sorted((ROOT / d).rglob("*.lrx")):
            out.append((str(p.relative_to(ROOT)), p.read_text()))
    for p in sorted((ROOT / "docs").rglob("*.md")):
        for n, block in enumerate(lrx_blocks(p.read_text())):
            out.append((f"{p.relative_to(ROOT)}#lrx-block-{n + 1}", block))
    return out


def main(argv):
    builtins, helpers, files = [], [], []
    it = iter(argv)
    for a in it:
        if a == "--builtins":
            builtins = [b for b in next(it).split(",") if b]
        elif a == "--helpers":
            helpers = [h for h in next(it).split(",") if h]
        else:
            files.append(a)
    doc = json.loads(GRAMMAR.read_text())
    failures = check_grammar_shape(doc, builtins, helpers)
    grammar = Grammar(doc)
    texts = inputs(files)
    checked = 0
    for name, text in texts:
        failures += check_text(grammar, name, text, set(builtins))
        checked += len(expectations(text, set(builtins)))
    # The check can fail: without its comment rule, or with strings scoped as numbers, the
    # grammar must be refused on the same files.
    for mutate in (
        lambda d: d["repository"]["comments"]["patterns"].pop(0),
        lambda d: d["repository"]["string"].update(name="constant.numeric.lrx"),
        lambda d: d["repository"]["entry"]["patterns"].pop(1),
    ):
        broken = copy.deepcopy(doc)
        mutate(broken)
        g = Grammar(broken)
        if not any(check_text(g, n, t, set(builtins)) for n, t in texts):
            failures.append("a broken grammar passed the checks: they cannot fail")
    for f in failures[:50]:
        print(f)
    if failures:
        print(f"{len(failures)} failures")
        return 1
    print(f"ok: {len(texts)} texts, {checked} scoped places checked")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
