"""Scenarios use the public API only: every ``dynlearn`` import of every scenario script names a
public module and only names in that module's ``__all__``.

The public modules are the package, its public subpackages and the two modules a scenario
author imports from (``dynlearn.app.scenario``: config declarations and checks;
``dynlearn.app.progress``: progress bars), plus ``dynlearn.app.image_data``, the config base of
the image-data scenarios. A deep path (``dynlearn.nn.mlp``), a private module
(``dynlearn.rules.credit._base``) or a name outside ``__all__`` is reported with the file, the
line and where the name is public, if it is. Attribute chains on an imported module
(``dynlearn.rules.Backprop``, ``nn_init.xavier_normal``) are held to the same rule.

The checker is tested on a made-up scenario first, so a checker that finds nothing cannot pass
silently.
"""

from __future__ import annotations

import ast
import importlib
import types
from pathlib import Path

import pytest

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

PUBLIC_MODULES = (
    "dynlearn",
    "dynlearn.rules",
    "dynlearn.rules.credit",
    "dynlearn.rules.pc",
    "dynlearn.rules.linear",
    "dynlearn.rules.optimiser",
    "dynlearn.nn",
    "dynlearn.data",
    "dynlearn.analysis",
    "dynlearn.plotting",
    "dynlearn.app.scenario",
    "dynlearn.app.progress",
    "dynlearn.app.image_data",
)


def public_names(module: str) -> list[str]:
    return list(importlib.import_module(module).__all__)


def public_home(name: str) -> str:
    """Where ``name`` is public, for the message: ' (public in dynlearn.nn)' or ''."""
    homes = [m for m in PUBLIC_MODULES if name in public_names(m)]
    return f" (public in {', '.join(homes)})" if homes else " (in no public module's __all__)"


def _chain(node: ast.AST) -> list[str] | None:
    """``a.b.c`` as ['a', 'b', 'c']; None if the chain does not start at a plain name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def _check_attributes(module: str, attrs: list[str], where: str) -> list[str]:
    """Follow ``module.attrs[0].attrs[1]...`` while it names public modules."""
    for attr in attrs:
        sub = f"{module}.{attr}"
        if sub in PUBLIC_MODULES:
            module = sub
            continue
        if attr not in public_names(module):
            return [f"{where}: {sub}: {attr!r} is not in {module}.__all__{public_home(attr)}"]
        value = getattr(importlib.import_module(module), attr)
        if not isinstance(value, types.ModuleType):
            return []
        module = value.__name__  # a public module re-exported under another name
    return []


def _check_import_from(node: ast.ImportFrom, where: str, bound: dict[str, str]) -> list[str]:
    module = node.module or ""
    if node.level or not (module == "dynlearn" or module.startswith("dynlearn.")):
        return []
    names = [a.name for a in node.names]
    if module not in PUBLIC_MODULES:
        return [
            f"{where}: from {module} import {name}: {module} is not a public module"
            f"{public_home(name)}"
            for name in names
        ]
    problems = []
    for alias in node.names:
        if alias.name == "*":
            problems.append(f"{where}: from {module} import *: name what you use")
        elif f"{module}.{alias.name}" in PUBLIC_MODULES:
            bound[alias.asname or alias.name] = f"{module}.{alias.name}"
        elif alias.name not in public_names(module):
            problems.append(
                f"{where}: from {module} import {alias.name}: not in {module}.__all__"
                f"{public_home(alias.name)}"
            )
        elif isinstance(getattr(importlib.import_module(module), alias.name), types.ModuleType):
            bound[alias.asname or alias.name] = f"{module}.{alias.name}"
    return problems


def check_source(source: str, filename: str) -> list[str]:
    """One line per non-public import or attribute in the scenario ``source``."""
    tree = ast.parse(source, filename)
    bound: dict[str, str] = {}  # local name -> the public module it refers to
    problems = []
    for node in ast.walk(tree):  # imports inside functions (plot's lazy imports) count too
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.ImportFrom):
            problems += _check_import_from(node, where, bound)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name != "dynlearn" and not alias.name.startswith("dynlearn."):
                    continue
                if alias.name not in PUBLIC_MODULES:
                    problems.append(f"{where}: import {alias.name}: not a public module")
                elif alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    bound["dynlearn"] = "dynlearn"  # `import dynlearn.x` binds dynlearn
    for node in ast.walk(tree):
        chain = _chain(node) if isinstance(node, ast.Attribute) else None
        if chain and chain[0] in bound and not isinstance(node.ctx, ast.Del):
            where = f"{filename}:{node.lineno}"
            problems += _check_attributes(bound[chain[0]], chain[1:], where)
    return sorted(set(problems))


def test_the_checker_reports_deep_private_and_unlisted_names():
    source = (
        "import dynlearn\n"
        "from dynlearn.nn.mlp import MLP\n"
        "from dynlearn.rules.credit._base import add_weight_decay\n"
        "from dynlearn.nn import MLP, no_such_name\n"
        "import dynlearn.core.solve\n"
        "from dynlearn.nn import minibatches\n"
        "def plot():\n"
        "    from dynlearn.core import solve\n"
        "    return dynlearn.solve, dynlearn.rules.credit.Backprop, dynlearn.nn.mlp.MLP\n"
    )
    problems = check_source(source, "s.py")
    assert problems == [
        "s.py:2: from dynlearn.nn.mlp import MLP: dynlearn.nn.mlp is not a public module"
        " (public in dynlearn.nn)",
        "s.py:3: from dynlearn.rules.credit._base import add_weight_decay: "
        "dynlearn.rules.credit._base is not a public module (public in dynlearn.nn)",
        "s.py:4: from dynlearn.nn import no_such_name: not in dynlearn.nn.__all__"
        " (in no public module's __all__)",
        "s.py:5: import dynlearn.core.solve: not a public module",
        "s.py:8: from dynlearn.core import solve: dynlearn.core is not a public module"
        " (public in dynlearn)",
        "s.py:9: dynlearn.nn.mlp: 'mlp' is not in dynlearn.nn.__all__"
        " (in no public module's __all__)",
    ], problems


def test_every_public_module_lists_only_names_it_has():
    for module in PUBLIC_MODULES:
        mod = importlib.import_module(module)
        missing = [n for n in mod.__all__ if not hasattr(mod, n)]
        assert not missing, (module, missing)
        assert not [n for n in mod.__all__ if n.startswith("_") and n != "__version__"], module


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.py")), ids=lambda p: p.stem)
def test_scenario_imports_only_public_names(path):
    problems = check_source(path.read_text(), f"scenarios/{path.name}")
    assert not problems, "\n".join(problems)
