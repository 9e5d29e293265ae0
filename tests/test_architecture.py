"""Layering rules from DESIGN.md that are cheap to check mechanically."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "accelbench"


def platform_api() -> re.Pattern[str]:
    """The platform APIs every registered device kind declares as its own."""
    from accelbench.devices import DEVICES

    names = sorted({m for _, cls in DEVICES for m in cls.platform_modules})
    assert {"torch.cuda", "torch.npu", "torch_npu"} <= set(names)
    alternatives = "|".join(re.escape(n) for n in names)
    return re.compile(rf"\b({alternatives})\b")


def test_only_the_device_layer_touches_platform_apis() -> None:
    pattern = platform_api()
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.parent.name == "devices":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line.split("#")[0]):
                offenders.append(f"{path.relative_to(SRC)}:{n}: {line.strip()}")
    assert not offenders, "platform APIs outside devices/:\n" + "\n".join(offenders)


def _imported_top_levels(path: Path) -> list[tuple[int, str]]:
    """(line, top-level module) of every import statement in ``path``, lazy ones included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name.split(".")[0]) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module.split(".")[0]))
    return out


def test_only_a_frameworks_own_package_imports_it() -> None:
    """MindSpore (and any framework after it) is imported only by frameworks/<name>/, as
    torch.cuda is only by devices/: the rest of accelbench reaches it through the registry."""
    from accelbench.frameworks import FRAMEWORKS

    owners = {m: name for name, cls in FRAMEWORKS for m in cls.modules}
    assert "mindspore" in owners
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        for line, top in _imported_top_levels(path):
            owner = owners.get(top)
            if owner is not None and rel.parts[:2] != ("frameworks", owner):
                offenders.append(f"{rel}:{line}: imports {top}")
    assert not offenders, "framework imports outside their package:\n" + "\n".join(offenders)


def test_the_framework_import_rule_sees_imports(tmp_path: Path) -> None:
    """The rule above would pass vacuously if it missed imports."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    import mindspore.nn\n    from mindspore import ops\n")
    assert _imported_top_levels(probe) == [(2, "mindspore"), (3, "mindspore")]
    inside = SRC / "frameworks" / "mindspore" / "runtime.py"
    assert any(top == "mindspore" for _, top in _imported_top_levels(inside))


def test_builtin_suites_and_peak_table_ship_in_the_package() -> None:
    assert (SRC / "suites" / "quick.yaml").is_file()
    assert (SRC / "devices" / "specs.yaml").is_file()


def test_analyses_are_pure() -> None:
    """Data flows config -> workload -> results -> store -> analysis -> report: analyses read
    result records only, never the store, a device, torch or the report above them."""
    banned = re.compile(
        r"^\s*(from|import)\s+(torch\b|accelbench\.(results\.store|devices|api|cli|report|workloads))"
    )
    offenders = [
        f"{path.relative_to(SRC)}:{n}: {line.strip()}"
        for path in (SRC / "analysis").rglob("*.py")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if banned.search(line)
    ]
    assert not offenders, "impure imports in analysis/:\n" + "\n".join(offenders)


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """accelbench module -> the accelbench modules it imports, at module level or inside a
    function (a lazy import still makes one module depend on the other); imports under
    ``if TYPE_CHECKING:`` are annotations only and left out."""
    modules = {_module_name(p): p for p in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        tree = ast.parse(path.read_text())
        skip: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skip.update(id(n) for n in ast.walk(node))
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
            for t in targets:
                if t in modules and t != mod:
                    graph[mod].add(t)
                    break
    return graph


def test_no_import_cycles() -> None:
    """Data flows one way (ARCHITECTURE.md): a cycle anywhere in the import graph fails."""
    graph = import_graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_import_graph_sees_imports() -> None:
    """The cycle test would pass vacuously if the graph missed imports."""
    graph = import_graph()
    assert "accelbench.results.schema" in graph["accelbench.api.runner"]
    assert "accelbench.errors" in graph["accelbench.config"]


# The layers of ARCHITECTURE.md, lowest first: module-name prefixes, most specific wins.
LAYERS: dict[str, tuple[str, ...]] = {
    "leaf": (
        "accelbench",
        "accelbench.errors",
        "accelbench.names",
        "accelbench.validation",
        "accelbench.registry",
        "accelbench.config",
        "accelbench.timing",
        "accelbench.timing.settings",
        "accelbench.timing.stats",
        "accelbench.fileio",
        "accelbench.limits",
        "accelbench.terminal",
    ),
    "records": ("accelbench.results", "accelbench.results.schema"),
    "counting": ("accelbench.flops", "accelbench.models", "accelbench.kernels"),
    "platform": (
        "accelbench.devices",
        "accelbench.power",
        "accelbench.timing.protocol",
        "accelbench.environment",
        "accelbench.parallel",
        "accelbench.hoststate",
        "accelbench.locking",
    ),
    "store": ("accelbench.results.store", "accelbench.results.io"),
    "work": (
        "accelbench.data",
        "accelbench.quality",
        "accelbench.workloads",
        "accelbench.training",
        "accelbench.inference",
        "accelbench.frameworks",
    ),
    "analysis": ("accelbench.analysis",),
    "report": ("accelbench.report",),
    "api": ("accelbench.api",),
    "cli": ("accelbench.cli", "accelbench.__main__"),
}
# What each layer may import (itself included). Analyses and the report are pure: records in,
# numbers and documents out; only the api reads the store and runs work; only the cli prints.
ALLOWED: dict[str, set[str]] = {
    "leaf": {"leaf"},
    "records": {"leaf", "records"},
    "counting": {"leaf", "records", "counting"},
    "platform": {"leaf", "records", "counting", "platform"},
    "store": {"leaf", "records", "store"},
    "work": {"leaf", "records", "counting", "platform", "work"},
    "analysis": {"leaf", "records", "analysis"},
    "report": {"leaf", "records", "analysis", "report"},
    "api": {
        "leaf",
        "records",
        "counting",
        "platform",
        "store",
        "work",
        "analysis",
        "report",
        "api",
    },
    "cli": set(LAYERS),
}


def layer_of(module: str) -> str:
    """The layer of the longest matching prefix; the package itself matches only exactly, so a
    new top-level module has no layer until ARCHITECTURE.md and this table give it one."""
    best, length = "", -1
    for layer, prefixes in LAYERS.items():
        for p in prefixes:
            inside = module.startswith(p + ".") and p != "accelbench"
            if (module == p or inside) and len(p) > length:
                best, length = layer, len(p)
    return best


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(m for m in import_graph() if not layer_of(m))
    assert not unplaced, f"modules outside every layer of ARCHITECTURE.md: {unplaced}"
    assert layer_of("accelbench.newthing") == ""  # the check above can fail


def test_layers_import_only_what_they_may() -> None:
    bad = [
        f"{m} ({layer_of(m)}) imports {t} ({layer_of(t)})"
        for m, targets in import_graph().items()
        for t in targets
        if layer_of(t) not in ALLOWED[layer_of(m)]
    ]
    assert not bad, "imports against ARCHITECTURE.md's layers:\n" + "\n".join(sorted(bad))
