"""The layer rule: the folder a module lives in says what it may import.

Imports run down the layers; the pure layers (config, core, calendar, inbound, compose)
never import the database, SMTP or IMAP libraries; only ``store`` talks to the ORM and
only ``mail`` (and the demo's ``dev``) to the mail servers. Read from the source, so a
forbidden import anywhere in a module, even inside a function, fails this test.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parents[2] / "service"

# Each layer and the layers it may import (itself always; the helpers paths/logs too).
ALLOWED: dict[str, set[str]] = {
    "config": set(),
    "core": {"config"},
    "calendar": {"config", "core"},
    "inbound": {"config", "core", "calendar"},
    "compose": {"config", "core", "calendar"},
    "store": {"config", "core"},
    "mail": {"config", "core"},
    "flows": {"config", "core", "calendar", "inbound", "compose", "store", "mail"},
    "runtime": {"config", "core", "calendar", "inbound", "compose", "store", "mail", "flows"},
    "dev": {"config", "core", "calendar", "inbound", "compose", "store", "mail", "flows",
            "runtime"},
    "cli": {"config", "core", "calendar", "inbound", "compose", "store", "mail", "flows",
            "runtime", "dev"},
}
HELPERS = {"paths", "logs", "__init__", "__version__"}
PURE = ("config", "core", "calendar", "inbound", "compose")
EDGE_LIBRARIES = {
    "tortoise": {"store"},
    "asyncpg": {"store"},
    "aiosqlite": {"store"},
    "aiosmtplib": {"mail"},
    "aioimaplib": {"mail"},
    "aiosmtpd": {"dev"},
}


def layer_of(path: Path) -> str:
    parts = path.relative_to(SERVICE).with_suffix("").parts
    return parts[0]


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module == "service":  # from service import x
                found.update(f"service.{alias.name}" for alias in node.names)
    return found


MODULES = sorted(p for p in SERVICE.rglob("*.py") if layer_of(p) not in HELPERS)


def test_every_module_is_in_a_known_layer() -> None:
    assert {layer_of(p) for p in MODULES} == set(ALLOWED)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SERVICE)))
def test_imports_run_down_the_layers(path: Path) -> None:
    layer = layer_of(path)
    for name in imports(path):
        top = name.split(".")[0]
        if top == "service":
            parts = name.split(".")
            target = parts[1] if len(parts) > 1 else "__init__"
            if target in HELPERS or target == layer:
                continue
            assert target in ALLOWED[layer], f"{path.name} ({layer}) imports {name}"
        elif top in EDGE_LIBRARIES:
            assert layer in EDGE_LIBRARIES[top], f"{path.name} ({layer}) imports {name}"


@pytest.mark.parametrize("layer", PURE)
def test_pure_layers_touch_no_server(layer: str) -> None:
    for path in (SERVICE / layer).rglob("*.py"):
        edges = {n.split(".")[0] for n in imports(path)} & set(EDGE_LIBRARIES)
        assert not edges, f"{path.relative_to(SERVICE)} imports {sorted(edges)}"


def test_the_rule_catches_a_forbidden_import(tmp_path: Path) -> None:
    """The checker itself sees an import hidden inside a function."""
    module = tmp_path / "sneaky.py"
    module.write_text("def f():\n    from tortoise import Tortoise\n    import service.store.db\n")
    assert {"tortoise", "service.store.db"} <= imports(module)
