"""Layers that point one way: no import cycle among scrapetrack's modules (imports inside
functions and under TYPE_CHECKING included), and the pipelines and the queue backends never
import the worker that drives them."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import scrapetrack

ROOT = Path(scrapetrack.__file__).parent


def imports() -> dict[str, set[str]]:
    """Each module of the package → the package's modules it imports."""
    modules: dict[str, Path] = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            found: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                found += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                found += [alias.name for alias in node.names]
            for target in found:
                if target in modules and target != name:
                    graph[name].add(target)
    return graph


def test_there_is_no_import_cycle() -> None:
    graph = imports()
    assert len(graph) > 50 and "scrapetrack.worker" in graph
    try:
        list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None


def test_pipelines_and_queues_do_not_import_the_worker() -> None:
    graph = imports()
    below = [name for name in graph if name.startswith("scrapetrack.pipelines")
             or name in ("scrapetrack.queue", "scrapetrack.qstash")]
    assert len(below) >= 6
    for name in below:
        assert "scrapetrack.worker" not in graph[name], name
