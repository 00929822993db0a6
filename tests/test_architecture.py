"""The import layering of ``src/photostage`` (docs/ARCHITECTURE.md): no import cycle, and no
module imports a package above it.

    api, cli, worker, doctor      (entry points: build the services, speak HTTP or the shell)
    services, schema, migrations  (wiring: every service built once from Settings; the tables)
    pipeline, jobs, webhooks, idempotency, accounts
    cutout, scenes, sources, storage
    imaging, db
    contract, config, secretfiles

The SDK (``client``, ``batch``) speaks to a server over HTTP: it imports only the contract and
itself, and only the CLI imports it. Imports inside functions and under ``TYPE_CHECKING`` count.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "photostage"

LAYERS = {
    "": 0,  # photostage/__init__.py: the version
    "contract": 0,
    "config": 0,
    "secretfiles": 0,
    "samples": 0,  # the sample product picture
    "imaging": 1,
    "db": 1,
    "observability": 1,  # metrics registry, log format, request id
    "cluster": 1,  # values every process of a database shares (tmp signing key, storage key check)
    "cutout": 2,
    "scenes": 2,
    "sources": 2,
    "storage": 2,
    "accounts": 3,
    "idempotency": 3,
    "webhooks": 3,
    "jobs": 3,
    "pipeline": 3,
    "schema": 4,  # creates and migrates every table: imports each subsystem's models
    "migrations": 4,
    "services": 4,
    "readiness": 4,  # checks the database, the broker and the storage the services use
    "api": 5,
    "cli": 5,
    "worker": 5,
    "doctor": 5,
}
SDK = {"client", "batch"}
# Packages that import nothing of the project but themselves.
SELF_CONTAINED = {"contract", "secretfiles", "imaging"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in SRC.rglob("*.py")}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The project modules ``path`` imports (``from photostage.x import y`` names module x.y when
    that is a module, else x)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [name if name in known else node.module for name in names]
        else:
            continue
        found.update(name for name in names if name == "photostage" or name.startswith("photostage."))
    return found


def package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def graph() -> dict[str, set[str]]:
    known = modules()
    names = set(known)
    return {name: {target for target in imports_of(path, names) if target != name} for name, path in known.items()}


def test_every_package_has_a_layer() -> None:
    unplaced = sorted({package(name) for name in modules()} - set(LAYERS) - SDK)
    assert unplaced == [], f"place these in LAYERS (tests/test_architecture.py): {unplaced}"


def test_no_module_imports_a_package_above_it() -> None:
    wrong: list[str] = []
    for source, targets in graph().items():
        here = package(source)
        for target in targets:
            there = package(target)
            if here == there:
                continue
            if here in SDK:
                ok = there in SDK or there == "contract"
            elif there in SDK:
                ok = here == "cli"
            elif here in SELF_CONTAINED:
                ok = False
            else:
                ok = LAYERS[there] <= LAYERS[here]
            if not ok:
                wrong.append(f"{source} imports {target}")
    assert wrong == []


def test_no_import_cycle() -> None:
    edges = graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_no_cycle_between_packages() -> None:
    edges: dict[str, set[str]] = {}
    for source, targets in graph().items():
        edges.setdefault(package(source), set()).update(package(t) for t in targets if package(t) != package(source))

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for step in edges.get(start, ()):
            if step == goal or (step not in seen and reaches(step, goal, seen | {step})):
                return True
        return False

    assert sorted(name for name in edges if reaches(name, name, {name})) == []
