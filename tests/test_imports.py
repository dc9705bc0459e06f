"""The package's import graph: no cycle anywhere, and imports inside functions only
where they keep an optional or heavy dependency out of import time (with a reason).

Parsed from the source (``ast``), so it checks every import, also those inside
functions that a plain ``import ads_jax`` never executes.
"""

from __future__ import annotations

import ast
import pathlib

PKG = pathlib.Path(__file__).resolve().parents[1] / "ads_jax"


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for f in PKG.rglob("*.py"):
        parts = list(f.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = f
    return out


MODULES = _modules()


def _targets(mod: str, node: ast.AST) -> list[str]:
    """Modules of ads_jax an import statement names (``from p import sub`` names ``p.sub``)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = mod.split(".")
            if MODULES[mod].name != "__init__.py":
                base = base[:-1]
            base = base[: len(base) - (node.level - 1)]
            name = ".".join(base + ([node.module] if node.module else []))
        else:
            name = node.module or ""
        subs = [f"{name}.{a.name}" for a in node.names if f"{name}.{a.name}" in MODULES]
        rest = [a for a in node.names if f"{name}.{a.name}" not in MODULES]
        names = subs + ([name] if rest else [])
    out = []
    for n in names:
        while n not in MODULES and "." in n:
            n = n.rsplit(".", 1)[0]
        if n in MODULES and n.startswith("ads_jax"):
            out.append(n)
    return out


def _imports(mod: str):
    """(module-level ads_jax targets, [(lineno, target or third-party name, in_function)])."""
    src = MODULES[mod].read_text()
    tree = ast.parse(src)
    found = []

    def visit(body, in_fn):
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                tg = _targets(mod, node)
                if tg:
                    found.extend((node.lineno, t, in_fn, True) for t in tg)
                else:
                    name = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                    found.append((node.lineno, name or "", in_fn, False))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(node.body, True)
            elif isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
                continue
            else:
                for field in ("body", "orelse", "finalbody", "handlers"):
                    sub = getattr(node, field, None)
                    if isinstance(sub, list):
                        visit(sub, in_fn)

    visit(tree.body, False)
    return src.splitlines(), found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
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
            if len(comp) > 1 or v in graph[v]:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            strong(v)
    return out


def test_no_import_cycle_anywhere_in_the_package():
    graph = {m: set() for m in MODULES}
    for m in MODULES:
        _, found = _imports(m)
        graph[m] |= {t for _, t, _, internal in found if internal and t != m}
    assert _cycles(graph) == []


def test_no_package_import_inside_functions_and_reasons_for_the_others():
    bad, unexplained = [], []
    for m in MODULES:
        lines, found = _imports(m)
        for lineno, target, in_fn, internal in found:
            if not in_fn:
                continue
            if internal:
                bad.append(f"{m}:{lineno} imports {target} inside a function")
                continue
            here, above = lines[lineno - 1], lines[lineno - 2] if lineno > 1 else ""
            if "#" not in here and not above.strip().startswith("#"):
                unexplained.append(f"{m}:{lineno} imports {target} inside a function "
                                   "without a one-line reason")
    assert bad == []
    assert unexplained == []


def test_the_checker_finds_a_cycle():
    """The checker itself: a made-up graph with a cycle through three modules."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
