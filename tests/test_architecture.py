"""The package's layout is its pipeline, and imports flow one way (ARCHITECTURE.md).

Each subpackage has a rank; a module may import modules of its own subpackage and of
lower ranks, never higher ones, whether at the top of the file or inside a function.
Private names (``_x``) are not imported across subpackages. Within ``cli``, the shared
``common`` module imports no other command module, and only ``app`` imports them all.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "attendance_rules"
RANKS = {
    "exceptions": 0,
    "text": 0,  # how dates read
    "jsonform": 0,  # the JSON form of every output record
    "registers": 1,  # codes, histories, readers, calendar, measures
    "policy": 2,  # YAML source, schema, model, layers, conformance, handbook
    "rules": 3,  # the condition language and the rule-set compiler
    "engine": 4,  # forward chaining and its results, why-not, distances
    "replay": 5,  # timelines, impact, cohorts, audits, case files
    "assurance": 5,  # validate, static checks, properties
    "scale": 6,  # worker processes, progress, Dask
    "report": 7,  # HTML for people
    "cli": 8,  # the command line
}
MAX_LINES = 600  # "no module over ~600 lines"


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[0] in ("__init__", "__main__"):
            continue
        found.append((".".join(parts), path))
    return found


def _imports(module: str, path: Path) -> list[tuple[str, tuple[str, ...], int]]:
    """(imported module, names, line) for every import of this package, resolved to a dotted name."""
    here = module.split(".")[:-1] if not path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
            target = ".".join(base + ([node.module] if node.module else []))
            names = tuple(a.name for a in node.names)
            if not node.module:  # from . import a, b: each a module (or a name of the package)
                found += [(f"{target}.{n}".strip("."), (), node.lineno) for n in names]
            else:
                found.append((target, names, node.lineno))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            name = getattr(node, "module", None) or ""
            if name.startswith("attendance_rules."):
                found.append((name.removeprefix("attendance_rules."), (), node.lineno))
    return found


def _layer(dotted: str) -> str:
    return dotted.split(".")[0]


MODULES = _modules()


def test_every_subpackage_has_a_rank():
    assert {_layer(m) for m, _ in MODULES} <= set(RANKS) | {"__version__"}


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_imports_flow_one_way(module, path):
    mine = RANKS[_layer(module)]
    wrong = [f"line {line}: imports {target}" for target, _, line in _imports(module, path)
             if target and _layer(target) in RANKS and _layer(target) != _layer(module)
             and RANKS[_layer(target)] >= mine]
    assert wrong == []


def _module_aliases(module: str, path: Path) -> set[str]:
    """Names under which this module holds other modules of the package
    (``from ..rules import conditions as c`` gives ``c``)."""
    known = {m for m, _ in MODULES}
    here = module.split(".")[:-1]
    aliases = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
            package = ".".join(base + ([node.module] if node.module else []))
            aliases |= {a.asname or a.name for a in node.names if f"{package}.{a.name}".strip(".") in known}
    return aliases


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_no_private_name_is_used_from_another_module(module, path):
    private = [f"line {line}: {target}.{name}" for target, names, line in _imports(module, path)
               for name in names if _private(name) and target != module]
    aliases = _module_aliases(module, path)
    private += [f"line {node.lineno}: {node.value.id}.{node.attr}"
                for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and _private(node.attr)]
    assert private == []


def test_cli_commands_share_options_not_each_other():
    for module, path in MODULES:
        if _layer(module) != "cli" or module in ("cli.app", "cli.__init__"):
            continue
        cli_targets = {t for t, _, _ in _imports(module, path) if _layer(t) == "cli" and t != module}
        assert cli_targets <= {"cli.common"}, (module, cli_targets)


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_no_module_is_too_long_to_read(module, path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_LINES


def test_the_architecture_names_every_module():
    text = (PACKAGE.parent / "ARCHITECTURE.md").read_text(encoding="utf-8")
    missing = [m for m, _ in MODULES if not m.endswith("__init__") and m.split(".")[-1] + ".py" not in text]
    assert missing == []
