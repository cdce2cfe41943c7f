"""YAML loading that remembers where each value came from, for errors naming file and line."""

from __future__ import annotations

__all__ = ["LDict", "LList", "load_yaml"]

from functools import cache
from typing import Any

from conformance.errors import CaseFileError


class LDict(dict[str, Any]):
    """A mapping with the line of the mapping and of each key."""

    line: int = 0
    lines: dict[str, int]


class LList(list[Any]):
    """A sequence with its line and the line of each item."""

    line: int = 0
    lines: list[int]


def _map(loader: Any, node: Any) -> LDict:
    loader.flatten_mapping(node)
    out = LDict()
    out.line = node.start_mark.line + 1
    out.lines = {}
    for knode, vnode in node.value:
        key = loader.construct_object(knode, deep=True)
        line = knode.start_mark.line + 1
        if not isinstance(key, str):
            key = str(key)
        if key in out:
            raise CaseFileError(loader.path, line, key, "key appears twice in the same mapping")
        out[key] = loader.construct_object(vnode, deep=True)
        out.lines[key] = line
    return out


def _seq(loader: Any, node: Any) -> LList:
    out = LList(loader.construct_object(n, deep=True) for n in node.value)
    out.line = node.start_mark.line + 1
    out.lines = [n.start_mark.line + 1 for n in node.value]
    return out


@cache
def _loader() -> Any:
    """The loader class, made on first use: a run whose catalogue comes from the cache
    (catalog/cache.py) never imports yaml."""
    import yaml

    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[misc]
        path = "<yaml>"

    Loader.add_constructor("tag:yaml.org,2002:map", _map)
    Loader.add_constructor("tag:yaml.org,2002:seq", _seq)
    return Loader


def load_yaml(text: str, path: str) -> Any:
    """Parse one YAML document; syntax errors become CaseFileError with the line."""
    import yaml

    loader = _loader()(text)
    loader.path = path
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise CaseFileError(path, line, None, f"YAML syntax: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise CaseFileError(path, None, None, f"YAML: {exc}") from None
    finally:
        loader.dispose()
