"""The package's import graph: no cycles, nothing imports the CLI, layers point one way.

The graph is built from the source with :mod:`ast` (nothing is imported), from every
``import`` statement at module level *and* inside functions, so a function-local import
cannot hide a loop. ``from scalinglaws.x import y`` depends on the module
``scalinglaws.x.y`` when that is a module, else on ``scalinglaws.x``; a package's
``__init__`` depends on whatever it re-exports. Importing ``scalinglaws.x.y`` also runs the
``__init__`` of the subpackage ``scalinglaws.x``, so it depends on that package too (an
*implied* edge, marked ``(package init)``); the root package is left out of these, as it
always initialises first. Each failure lists the offending edges as
``importer -> imported  (file:line)``.

Layers, lowest first (a module may import its own layer's package and lower layers only):

    foundations (errors, version) -> run-log and file input (io.runs, io.files) -> laws ->
    fitting -> uncertainty (incl. predictive intervals and conformal calibration) ->
    records (io) -> approaches / mixture / sparsity -> planning / plotting / checking /
    simulate -> report / testing -> the package root (public surface) -> cli -> __main__
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "scalinglaws"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

#: Layer of each module, by longest matching dotted prefix (lowest layer first); the
#: root ``scalinglaws`` matches the package's ``__init__`` only, so a new top-level module
#: must be placed here explicitly.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundations", ("scalinglaws.errors", "scalinglaws._version", "scalinglaws.exported")),
    (
        "input",
        (
            "scalinglaws.io.runs",
            "scalinglaws.io.files",
            "scalinglaws.io.columns",
            "scalinglaws.io.query",
        ),
    ),
    ("laws", ("scalinglaws.laws",)),
    ("fitting", ("scalinglaws.fitting",)),
    ("uncertainty", ("scalinglaws.uncertainty",)),
    ("records", ("scalinglaws.io",)),
    (
        "workflows",
        (
            "scalinglaws.approaches",
            "scalinglaws.datamix",
            "scalinglaws.mixture",
            "scalinglaws.sparsity",
        ),
    ),
    (
        "decisions",
        (
            "scalinglaws.planning",
            "scalinglaws.plotting",
            "scalinglaws.checking",
            "scalinglaws.simulate",
            "scalinglaws.design",
            # choosing and proposing mixtures decide from a fit, like the planners
            "scalinglaws.datamix.plan",
            "scalinglaws.datamix.propose",
        ),
    ),
    ("report", ("scalinglaws.report", "scalinglaws.testing", "scalinglaws._caches")),
    ("public surface", ("scalinglaws",)),
    ("cli", ("scalinglaws.cli",)),
    ("entry point", ("scalinglaws.__main__",)),
)

#: Imports between different packages of one layer that are allowed, with the reason.
#: Everything else within a layer must go through a lower layer.
#: Keys are ``(importer, imported)`` top-level packages (``scalinglaws.x``). None is
#: needed today: approaches, mixture and sparsity import none of each other.
SAME_LAYER_ALLOWED: Mapping[tuple[str, str], str] = {
    ("scalinglaws.datamix", "scalinglaws.design"): (
        "mixture proposals are scored by the one experiment-design engine"
    ),
}

#: Private (underscore) module paths that may be imported from anywhere, with the reason.
PRIVATE_ALLOWED: Mapping[str, str] = {
    "scalinglaws._version": "the one home of __version__; library code reads it from there",
    "scalinglaws._caches": "clear_caches reaches into the private caches of several layers; "
    "the public names are scalinglaws.clear_caches and scalinglaws.enable_caches",
}


@dataclass(frozen=True)
class Edge:
    """One import: ``src`` imports ``dst`` (the names taken from it) at ``file:line``."""

    src: str
    dst: str
    names: tuple[str, ...]
    file: str
    line: int

    implied: bool = False

    def __str__(self) -> str:
        taken = f" [{', '.join(self.names)}]" if self.names else ""
        via = " (package init)" if self.implied else ""
        return f"{self.src} -> {self.dst}{taken}{via}  ({self.file}:{self.line})"


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``root`` (package ``package``)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([package, *parts])] = path
    return out


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module of a (possibly relative) ``from ... import``."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _targets(node: ast.AST, module: str, is_package: bool, modules: Iterable[str]):
    """``(dst module, names)`` pairs an import node depends on."""
    known = set(modules)
    if isinstance(node, ast.Import):
        return [(alias.name, ()) for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = _absolute(node, module, is_package)
        out = []
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            out.append((sub, ()) if sub in known else (base, (alias.name,)))
        return out
    # importlib.import_module("scalinglaws.x") with a literal name.
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "import_module"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return [(node.args[0].value, ())]
    return []


def import_edges(root: Path, package: str) -> list[Edge]:
    """Every import of a module of ``package`` by a module of ``package``, one edge per
    (importer, imported, line)."""
    modules = module_names(root, package)
    edges: list[Edge] = []
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            for dst, names in _targets(node, module, is_package, modules):
                # Resolve to the nearest module that exists (``import a.b.c`` of an attribute).
                while dst and dst not in modules and "." in dst:
                    dst = dst.rsplit(".", 1)[0]
                if dst in modules and dst != module:
                    rel = str(path.relative_to(root.parent))
                    edges.append(Edge(module, dst, tuple(names), rel, node.lineno))
                    edges += _implied(module, dst, modules, package, rel, node.lineno)
    return _merged(edges)


def _merged(edges: list[Edge]) -> list[Edge]:
    """One edge per (importer, imported, file, line), the names taken joined."""
    merged: dict[tuple, Edge] = {}
    for e in edges:
        key = (e.src, e.dst, e.file, e.line, e.implied)
        old = merged.get(key)
        names = e.names if old is None else (*old.names, *e.names)
        merged[key] = Edge(e.src, e.dst, tuple(dict.fromkeys(names)), e.file, e.line, e.implied)
    return list(merged.values())


def _implied(module: str, dst: str, modules, package: str, rel: str, line: int) -> list[Edge]:
    """Edges to the subpackages whose ``__init__`` importing ``dst`` runs (not the root)."""
    parts = dst.split(".")
    out = []
    for i in range(2, len(parts)):
        parent = ".".join(parts[:i])
        if parent != package and parent in modules and parent != module:
            if not module.startswith(parent + "."):  # already initialised around it
                out.append(Edge(module, parent, (), rel, line, implied=True))
    return out


def cycles(edges: Iterable[Edge]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), sorted."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.src, set()).add(e.dst)
        graph.setdefault(e.dst, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def layer_of(module: str) -> tuple[int, str]:
    """``(layer index, matched prefix)`` of a module.

    By the longest prefix in :data:`LAYERS`; a subpackage's ``__init__`` sits at the
    highest layer among the submodules it re-exports (``scalinglaws.io`` is in the input
    layer while it re-exports run loading only, in the records layer once it re-exports
    records), since importing anything below it runs that ``__init__``.
    """
    if module in SUBPACKAGES:
        own = [
            _prefix_layer(e.dst)
            for e in EDGES
            if e.src == module and not e.implied and e.dst.startswith(module + ".")
        ]
        if own:
            return max(own)
    return _prefix_layer(module)


def _prefix_layer(module: str) -> tuple[int, str]:
    best = (-1, "")
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            inside = module == prefix or (
                prefix != PACKAGE and module.startswith(prefix + ".")
            )
            if inside and len(prefix) > len(best[1]):
                best = (i, prefix)
    return best


def top_package(module: str) -> str:
    """``scalinglaws.x`` for ``scalinglaws.x.y``; the root for ``scalinglaws``."""
    return ".".join(module.split(".")[:2])


def _report(title: str, edges: Iterable[Edge]) -> str:
    lines = [str(e) for e in edges]
    text = f"{title} ({len(lines)}):\n  " + "\n  ".join(lines)
    print(text)
    return text


# ---------------------------------------------------------------------- the checks
EDGES = import_edges(ROOT, PACKAGE)
SUBPACKAGES = {
    name
    for name, path in module_names(ROOT, PACKAGE).items()
    if path.name == "__init__.py" and name != PACKAGE
}


def test_graph_builder_finds_a_cycle_and_a_private_import(tmp_path):
    # Mutation self-check: a loop hidden behind a function-local import, and a relative
    # import, must both be seen.
    pkg = tmp_path / "toy"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from toy.sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..a import _helper\n")
    (pkg / "c.py").write_text("import toy.a\n")
    edges = import_edges(pkg, "toy")
    assert {(e.src, e.dst) for e in edges if not e.implied} == {
        ("toy.a", "toy.sub.b"),
        ("toy.sub.b", "toy.a"),
        ("toy.c", "toy.a"),
    }
    # Importing toy.sub.b runs toy/sub/__init__.py first.
    assert {(e.src, e.dst) for e in edges if e.implied} == {("toy.a", "toy.sub")}
    assert cycles(edges) == [["toy.a", "toy.sub.b"]]
    back = next(e for e in edges if e.src == "toy.sub.b")
    assert back.names == ("_helper",) and back.line == 2
    (pkg / "sub" / "b.py").write_text("def f():\n    return 1\n")
    assert cycles(import_edges(pkg, "toy")) == []


def test_every_module_has_a_layer():
    missing = [m for m in module_names(ROOT, PACKAGE) if layer_of(m)[0] < 0]
    assert not missing, f"modules with no layer in LAYERS: {missing}"


def test_no_import_cycles():
    found = cycles(EDGES)
    if found:
        members = {m for comp in found for m in comp}
        comp_of = {m: i for i, comp in enumerate(found) for m in comp}
        inside = [
            e for e in EDGES if e.src in members and comp_of.get(e.src) == comp_of.get(e.dst)
        ]
        raise AssertionError(_report(f"import cycles among {found}; their edges", inside))


def test_library_never_imports_the_cli():
    bad = [
        e
        for e in EDGES
        if top_package(e.dst) == "scalinglaws.cli"
        and top_package(e.src) not in ("scalinglaws.cli", "scalinglaws.__main__")
    ]
    assert not bad, _report("library modules importing scalinglaws.cli", bad)


def _private(e: Edge) -> bool:
    path = e.dst.split(".")[1:]
    private_module = any(p.startswith("_") and not p.startswith("__") for p in path)
    private_name = any(n.startswith("_") and not n.startswith("__") for n in e.names)
    return (private_module and e.dst not in PRIVATE_ALLOWED) or private_name


def test_no_private_name_crosses_a_package():
    bad = [e for e in EDGES if top_package(e.src) != top_package(e.dst) and _private(e)]
    assert not bad, _report("private names imported across packages", bad)


def test_no_library_module_reads_the_package_root():
    # The root re-exports everything: importing it from below is a loop in waiting
    # (``__version__`` lives in ``scalinglaws._version``).
    above = ("scalinglaws.cli", "scalinglaws.__main__")
    bad = [e for e in EDGES if e.dst == PACKAGE and top_package(e.src) not in above]
    assert not bad, _report("library modules importing the package root", bad)


def test_layers_point_one_way():
    bad = []
    for e in EDGES:
        (ls, ps), (ld, pd_) = layer_of(e.src), layer_of(e.dst)
        if ld > ls:
            bad.append(e)
        elif ld == ls and ps != pd_ and top_package(e.src) != top_package(e.dst):
            if (top_package(e.src), top_package(e.dst)) not in SAME_LAYER_ALLOWED:
                bad.append(e)
    names = [name for name, _ in LAYERS]
    assert not bad, _report(f"imports against the layer order {' < '.join(names)}", bad)


#: Names ``scalinglaws`` exported before its surface was curated: they must keep working.
EXPORTED_BEFORE = (
    "approaches", "bootstrap", "calibrate", "CMRFit", "FitError", "FitResult", "PlanError",
    "RecordError", "RunLogError", "ScalingLawsError", "ScalingLawsWarning", "Uncertainty",
    "__version__", "compute_for_loss", "fit", "fit_cmr", "laplace", "laws", "mixture",
    "load_cmr_fit", "load_cpt_runs", "load_fit", "load_runs", "load_sparse_runs",
    "plan_compute", "plan_fixed_params", "plan_fixed_tokens", "plan_mixture", "plan_sparsity",
    "plotting", "predictive_interval", "sample_posterior", "save_cmr_fit", "save_fit",
    "sparsity", "to_inference_data", "uncertainty", "write_report",
)  # fmt: skip


def test_public_surface_keeps_every_name_it_exported():
    import inspect

    import scalinglaws as sl

    assert len(set(sl.__all__)) == len(sl.__all__)
    missing = [n for n in EXPORTED_BEFORE if n not in sl.__all__]
    assert not missing, f"names dropped from scalinglaws.__all__: {missing}"
    unresolved = [n for n in sl.__all__ if getattr(sl, n, None) is None]
    assert not unresolved, f"names in scalinglaws.__all__ that do not resolve: {unresolved}"
    # The public fit still attaches uncertainty (the point fit below it no longer does).
    assert "uncertainty" in inspect.signature(sl.fit).parameters
