"""Every module says what it exports, and says it truthfully.

For each module of conformance/ (read as source, so that the atheris harnesses need not import):
`__all__` exists, names only what the module defines or imports, and lists every public function
and class the module defines; a package's `__init__` exports only names its submodules export.
Importing a module and reading `__all__` must give the same list as the source.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "conformance"
MODULES = sorted(p for p in PKG.rglob("*.py") if p.name != "__main__.py")
NOT_IMPORTED = {"engine_harness", "http_harness", "loader_harness", "atheris_child"}  # run under libFuzzer


def _name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _exports(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else (
            node.target if isinstance(node, ast.AnnAssign) else None)
        if isinstance(target, ast.Name) and target.id == "__all__":
            assert node.value is not None
            value = ast.literal_eval(node.value)
            assert isinstance(value, list), "__all__ must be a list literal"
            return [str(v) for v in value]
    return None


def _top_level(tree: ast.Module) -> tuple[set[str], set[str]]:
    """(every name bound at top level, the public functions and classes defined here)."""
    bound: set[str] = set()
    defined: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
            if not node.name.startswith("_"):
                defined.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign):
            bound.update(n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(node.target, ast.Name):
            bound.add(node.target.id)
        elif isinstance(node, ast.If | ast.Try):  # TYPE_CHECKING blocks, optional imports
            inner = ast.Module(body=[*node.body, *getattr(node, "orelse", [])], type_ignores=[])
            bound |= _top_level(inner)[0]
    return bound, defined


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_all_is_complete_and_true(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    exported = _exports(tree)
    assert exported is not None, f"{path.relative_to(PKG.parent)} has no __all__"
    assert len(exported) == len(set(exported)), f"duplicates in __all__: {exported}"
    bound, defined = _top_level(tree)
    assert not set(exported) - bound, f"__all__ names what the module does not have: {sorted(set(exported) - bound)}"
    if path.name != "__init__.py":
        assert not defined - set(exported), f"public but not in __all__: {sorted(defined - set(exported))}"
    if path.stem not in NOT_IMPORTED:
        module = importlib.import_module(_name(path))
        assert list(module.__all__) == exported
        for name in exported:
            assert hasattr(module, name), f"{_name(path)}.{name} is exported but missing at import"


@pytest.mark.parametrize("path", [p for p in MODULES if p.name == "__init__.py"], ids=_name)
def test_package_exports_come_from_its_modules(path: Path) -> None:
    """A package re-exports only what one of its own modules exports (or defines it in __init__)."""
    package = importlib.import_module(_name(path))
    tree = ast.parse(path.read_text(encoding="utf-8"))
    source = {a.asname or a.name: node.module for node in tree.body if isinstance(node, ast.ImportFrom)
              for a in node.names}
    for name in package.__all__:
        assert hasattr(package, name), f"{package.__name__}.{name} is exported but missing"
        home = source.get(name)
        if home is None:  # defined in the package itself (e.g. __version__)
            continue
        assert home.startswith(package.__name__ + "."), f"{package.__name__}.{name} comes from {home}"
        assert name in importlib.import_module(home).__all__, f"{home} does not export {name}"
