"""The package layout: dependencies between the top-level packages point one way.

Every import statement (module level or inside a function: a deferred import is still a
dependency) is read with `ast`, never by importing, so the test is fast and sees code that a
test run would not reach.
"""

from __future__ import annotations

import ast
import graphlib
import re
from collections import defaultdict
from pathlib import Path

from core.settings import REPO_ROOT

# What every stage may import; it imports none of them.
CORE = "core"

# Edges of the package graph: (importer, imported) → the "file:line"s that make the edge.
Edges = dict[tuple[str, str], list[str]]


def top_level_packages(root: Path) -> list[str]:
    """Folders at the root that are Python packages; tests/ imports everything and nothing imports it."""
    return sorted(p.parent.name for p in root.glob("*/__init__.py") if p.parent.name != "tests")


def package_edges(root: Path, packages: list[str]) -> Edges:
    edges: Edges = defaultdict(list)
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:  # relative imports stay inside their own package
                    continue
                for module in modules:
                    imported = module.split(".")[0]
                    if imported in packages and imported != package:
                        edges[(package, imported)].append(f"{path.relative_to(root)}:{node.lineno}")
    return dict(edges)


def cycle_message(edges: Edges) -> str | None:
    """None if the package graph has no cycle, else one cycle with the files making each edge."""
    graph: dict[str, set[str]] = defaultdict(set)
    for importer, imported in edges:
        graph[importer].add(imported)
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        # graphlib gives the cycle as nodes [a, b, ..., a], each depending on the next one.
        nodes: list[str] = error.args[1]
        # TopologicalSorter reads graph[x] as x's predecessors, so the cycle's edges run backwards.
        steps = list(zip(nodes[1:], nodes[:-1], strict=True))
        return "import cycle between packages: " + "; ".join(
            f"{a} → {b} ({', '.join(edges[(a, b)])})" for a, b in steps
        )
    return None


def test_the_packages_import_each_other_without_a_cycle() -> None:
    edges = package_edges(REPO_ROOT, top_level_packages(REPO_ROOT))
    assert cycle_message(edges) is None, cycle_message(edges)


def test_core_imports_no_other_package_of_the_project() -> None:
    packages = top_level_packages(REPO_ROOT)
    assert CORE in packages
    outgoing = {
        f"{CORE} → {b}: {', '.join(files)}" for (a, b), files in package_edges(REPO_ROOT, packages).items() if a == CORE
    }
    assert not outgoing, f"core must import no other package of the project: {sorted(outgoing)}"


def test_a_planted_cycle_is_reported_with_its_edges_and_files(tmp_path: Path) -> None:
    # The checks above pass on a good tree; this shows they would fail on a bad one, naming the
    # edges and where they are made.
    for package, body in {
        "core": "import duckdb\n",
        "alpha": "from core import db\n\n\ndef later():\n    from beta.thing import x\n",
        "beta": "import gamma.sub\n",
        "gamma": "from . import here\nfrom alpha import y\n",
        "tests": "import alpha\n",
    }.items():
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
        (tmp_path / package / "mod.py").write_text(body)

    packages = top_level_packages(tmp_path)
    assert packages == ["alpha", "beta", "core", "gamma"]
    edges = package_edges(tmp_path, packages)
    assert edges == {
        ("alpha", "core"): ["alpha/mod.py:1"],
        ("alpha", "beta"): ["alpha/mod.py:5"],
        ("beta", "gamma"): ["beta/mod.py:1"],
        ("gamma", "alpha"): ["gamma/mod.py:2"],
    }
    message = cycle_message(edges)
    assert message is not None
    # The cycle may start at any of its packages; each of its three edges is named with its file.
    for edge in ("alpha → beta (alpha/mod.py:5)", "beta → gamma (beta/mod.py:1)", "gamma → alpha (gamma/mod.py:2)"):
        assert edge in message, message
    assert "core" not in message

    del edges[("gamma", "alpha")]
    assert cycle_message(edges) is None


def test_dbt_layers_point_one_way() -> None:
    """Staging reads sources only; an intermediate model reads staging and intermediate models,
    never a mart (a mart may read other marts). Read from the model files' ref() calls."""
    models = REPO_ROOT / "dbt_project" / "models"
    layer_of = {path.stem: path.relative_to(models).parts[0] for path in models.rglob("*.sql")}
    allowed = {"staging": set(), "intermediate": {"staging", "intermediate"}}
    wrong = []
    for path in sorted(models.rglob("*.sql")):
        layer = path.relative_to(models).parts[0]
        if layer not in allowed:
            continue
        for name in re.findall(r"ref\(\s*'([a-z0-9_]+)'\s*\)", path.read_text()):
            if layer_of.get(name) not in allowed[layer]:
                wrong.append(f"{path.relative_to(REPO_ROOT)} ({layer}) reads {name} ({layer_of.get(name)})")
    assert wrong == [], "\n".join(wrong)
