"""Load `cases/*.yaml` into `Case` objects; every error names file, line and field.

The format is docs/case-format.md. Loading is: parse YAML (with lines), merge `defaults`, expand
`params` / `product` rows by substitution, then validate each case into immutable objects.
"""

from __future__ import annotations

__all__ = ["Catalogue", "check_consistent", "declare_all_rules", "load_catalogue", "load_file", "parse_handshake", "select"]

import dataclasses
import fnmatch
import itertools
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from conformance.catalog import cache as _cache
from conformance.catalog.model import (
    H2_STEP_TYPES,
    H3_STEP_TYPES,
    STEP_TYPES,
    Case,
    Checkpoint,
    CloseExpect,
    CloseNow,
    DeflateSpec,
    Echo,
    EchoSpec,
    Expect,
    ExpectResponse,
    FrameSpec,
    H2EndStream,
    H2Get,
    H2Goaway,
    H2Reset,
    H2Settings,
    H2Streams,
    H3Fin,
    H3Goaway,
    H3Reset,
    H3Streams,
    HandshakeSpec,
    HeaderEdits,
    Observation,
    OfferParams,
    ResponseSpec,
    SendClose,
    SendFrame,
    SendMessage,
    SendRaw,
    Step,
    Wait,
    WaitMessages,
    spec_keys,
)
from conformance.catalog.payload import PayloadSpec, parse_payload
from conformance.catalog.resources import RESOURCE_PARSERS, parse_limits
from conformance.catalog.select import RFC_SECTION
from conformance.catalog.yamlload import LDict, LList, load_yaml
from conformance.engine.rules import RULES
from conformance.errors import CaseFileError
from conformance.wire.frames import Opcode

DEFAULT_CASES_DIR = Path(__file__).resolve().parents[2] / "cases"
_LEVELS = ("MUST", "SHOULD", "MAY", "informational")
_ROLES = ("server", "client", "both")
_ID_RE = re.compile(r"^\d+(\.\d+)*$")
_FILE_KEYS = {"group", "title", "subgroups", "defaults", "tables", "cases"}


@dataclasses.dataclass
class Catalogue:
    cases: list[Case]
    titles: dict[str, str]  # group and subgroup titles
    added: list[str] = dataclasses.field(default_factory=list)  # IDs from the `extra` directories
    replaced: list[str] = dataclasses.field(default_factory=list)  # bundled IDs an extra case replaced

    def by_id(self) -> dict[str, Case]:
        return {c.id: c for c in self.cases}


class _Ctx:
    """Where we are, for error messages."""

    def __init__(self, path: str, line: int) -> None:
        self.path = path
        self.line = line

    def error(self, field: str | None, message: str, node: Any = None, key: str | None = None) -> CaseFileError:
        line = self.line
        if isinstance(node, LDict) and key is not None:
            line = node.lines.get(key, node.line)
        elif isinstance(node, (LDict, LList)) and node.line:
            line = node.line
        return CaseFileError(self.path, line, field, message)


def load_catalogue(directory: str | Path | None = None, extra: Sequence[str | Path] = (),
                   *, parse: bool = False) -> Catalogue:
    """Every `*.yaml` below `directory` (default: the project's cases/), sorted by case ID, plus the
    cases below each `extra` directory (what `--cases-dir` adds). Within one of these catalogues an
    ID is defined once; an extra case with the ID of a bundled one replaces it (Catalogue.replaced).
    The catalogue parsed before from the same files and code is read back (catalog/cache.py)
    unless `parse`."""
    base = _load_tree([Path(directory) if directory is not None else DEFAULT_CASES_DIR], parse)
    if not extra:
        return base
    more = _load_tree([Path(d) for d in extra], parse)
    ids = {c.id for c in more.cases}
    cases = [c for c in base.cases if c.id not in ids] + more.cases
    cases.sort(key=Case.sort_key)
    return Catalogue(cases, {**base.titles, **more.titles}, added=[c.id for c in more.cases],
                     replaced=sorted((c.id for c in base.cases if c.id in ids), key=_id_key))


def _id_key(cid: str) -> tuple[int, ...]:
    return tuple(int(p) for p in cid.split(".") if p.isdigit())


def _load_tree(roots: Sequence[Path], parse: bool = False) -> Catalogue:
    files = _case_files(roots)
    key = _cache.key(files)
    cached = None if parse else _cache.get(key)
    if isinstance(cached, Catalogue):
        declare_all_rules()  # what parsing the cases would have imported
        return cached
    catalogue = _parse_tree(files)
    _cache.put(key, files, catalogue)
    return catalogue


def _parse_tree(files: Sequence[Path]) -> Catalogue:
    cases: list[Case] = []
    titles: dict[str, str] = {}
    seen: dict[str, str] = {}
    for path in files:
        file_cases, file_titles = load_file(path)
        for case in file_cases:
            if case.id in seen:
                line = int(case.source.rsplit(":", 1)[1])
                raise CaseFileError(str(path), line, "id",
                                    f"case {case.id} is already defined at {seen[case.id]}")
            seen[case.id] = case.source
        cases.extend(file_cases)
        titles.update(file_titles)
    cases.sort(key=Case.sort_key)
    return Catalogue(cases, titles)


def _case_files(roots: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for root in roots:
        if not root.is_dir():
            raise CaseFileError(str(root), None, None, "no such case directory")
        found = sorted(root.rglob("*.yaml"))
        if not found:
            raise CaseFileError(str(root), None, None, "no case files (*.yaml) in this directory")
        files += [f for f in found if f not in files]
    return files


def load_file(path: str | Path) -> tuple[list[Case], dict[str, str]]:
    p = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseFileError(p, None, None, f"cannot read: {exc}") from None
    doc = load_yaml(text, p)
    ctx = _Ctx(p, 1)
    if not isinstance(doc, LDict):
        raise ctx.error(None, "a case file is a mapping with `group` and `cases`")
    _unknown(ctx, doc, _FILE_KEYS, "")
    group = _req_str(ctx, doc, "group")
    titles = {group: str(doc.get("title", group))}
    subgroups = doc.get("subgroups") or {}
    if not isinstance(subgroups, dict):
        raise ctx.error("subgroups", "must be a mapping of subgroup id to title", doc, "subgroups")
    titles.update({str(k): str(v) for k, v in subgroups.items()})
    defaults = doc.get("defaults") or LDict()
    tables = doc.get("tables") or LDict()
    if not isinstance(defaults, dict) or not isinstance(tables, dict):
        raise ctx.error("defaults", "`defaults` and `tables` are mappings", doc)
    entries = doc.get("cases")
    if not isinstance(entries, list):
        raise ctx.error("cases", "must be a list of cases", doc, "cases")
    cases: list[Case] = []
    for i, entry in enumerate(entries):
        line = entries.lines[i] if isinstance(entries, LList) else 1
        ectx = _Ctx(p, line)
        if not isinstance(entry, dict):
            raise ectx.error("cases", "each case is a mapping")
        merged = _merge(defaults, entry)
        for row in _rows(ectx, merged, tables):
            raw = _substitute(ectx, merged, row) if row else merged
            case = _case(ectx, raw, group)
            check_consistent(case, raw)
            cases.append(case)
    return cases, titles


# -- expansion -----------------------------------------------------------------------------------

def _merge(defaults: dict[str, Any], entry: dict[str, Any]) -> LDict:
    out = LDict({**defaults, **entry})
    out.line = getattr(entry, "line", 0)
    out.lines = {**getattr(defaults, "lines", {}), **getattr(entry, "lines", {})}
    return out


def _rows(ctx: _Ctx, case: LDict, tables: dict[str, Any]) -> list[dict[str, Any]]:
    if "params" in case and "product" in case:
        raise ctx.error("params", "use `params` or `product`, not both", case, "params")
    if "params" in case:
        return _table(ctx, case["params"], tables, "params", case)
    if "product" in case:
        dims = case["product"]
        if not isinstance(dims, list) or not dims:
            raise ctx.error("product", "a non-empty list of tables", case, "product")
        grids = [_table(ctx, d, tables, "product", case) for d in dims]
        return [_merge_rows(combo) for combo in itertools.product(*grids)]
    return [{}]


def _merge_rows(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for r in rows:
        out.update(r)
    return out


def _table(ctx: _Ctx, ref: Any, tables: dict[str, Any], field: str, case: LDict) -> list[dict[str, Any]]:
    rows = tables.get(ref) if isinstance(ref, str) else ref
    if isinstance(ref, str) and rows is None:
        raise ctx.error(field, f"no table named {ref!r} in `tables`", case, field)
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ctx.error(field, "a table is a list of mappings", case, field)
    return rows


_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _substitute(ctx: _Ctx, value: Any, row: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return _sub_str(ctx, value, row)
    if isinstance(value, dict):
        d = LDict({k: _substitute(ctx, v, row) for k, v in value.items()
                   if k not in ("params", "product")})
        d.line = getattr(value, "line", ctx.line)
        d.lines = getattr(value, "lines", {})
        return d
    if isinstance(value, list):
        lst = LList(_substitute(ctx, v, row) for v in value)
        lst.line = getattr(value, "line", ctx.line)
        lst.lines = getattr(value, "lines", [])
        return lst
    return value


def _sub_str(ctx: _Ctx, s: str, row: dict[str, Any]) -> Any:
    whole = _PLACEHOLDER.fullmatch(s)
    if whole and whole.group(1):
        return _lookup(ctx, whole.group(1), row)

    def rep(m: re.Match[str]) -> str:
        if m.group(0) == "{{":
            return "{"
        if m.group(0) == "}}":
            return "}"
        return str(_lookup(ctx, m.group(1), row))

    return _PLACEHOLDER.sub(rep, s)


def _lookup(ctx: _Ctx, name: str, row: dict[str, Any]) -> Any:
    if name not in row:
        raise ctx.error(name, f"placeholder {{{name}}} has no value in the parameter row {dict(row)}")
    return row[name]


# -- validation ----------------------------------------------------------------------------------

_CASE_KEYS = (spec_keys(Case) - {"group", "source"}) | {"params", "product"}


def _case(ctx: _Ctx, d: LDict, group: str) -> Case:
    _unknown(ctx, d, _CASE_KEYS, "")
    if isinstance(d.get("id"), (int, float)) and not isinstance(d.get("id"), bool):
        raise ctx.error("id", f"{d['id']!r} is a YAML number, not a string (an unquoted 99.10 reads "
                        f"as 99.1): quote it, e.g. id: \"{d['id']}\"", d, "id")
    cid = _req_str(ctx, d, "id")
    if not _ID_RE.match(cid):
        raise ctx.error("id", f"{cid!r} is not a dotted number like 6.4.1", d, "id")
    if cid.split(".")[0] != group:
        raise ctx.error("id", f"case {cid} is not in this file's group {group}", d, "id")
    ctx = _Ctx(ctx.path, d.line or ctx.line)
    level = d.get("level", "MUST")
    if level not in _LEVELS:
        raise ctx.error("level", f"must be one of {', '.join(_LEVELS)}", d, "level")
    role = d.get("role", "both")
    if role not in _ROLES:
        raise ctx.error("role", f"must be one of {', '.join(_ROLES)}", d, "role")
    rule_id = d.get("rule")
    if rule_id is not None:
        _known_rule(ctx, d, str(rule_id))
    rfc = d.get("rfc", [])
    if isinstance(rfc, str):
        rfc = [rfc]
    if not isinstance(rfc, list) or not rfc:
        raise ctx.error("rfc", "list at least one RFC section, e.g. 'RFC 6455 §5.2'", d, "rfc")
    for section in rfc:
        if not isinstance(section, str) or not RFC_SECTION.match(section):
            raise ctx.error("rfc", f"{section!r} is not a section like 'RFC 6455 §5.5.1'", d, "rfc")
    timeout = d.get("timeout")
    if timeout is not None and (not isinstance(timeout, (int, float)) or timeout <= 0):
        raise ctx.error("timeout", "a positive number of seconds", d, "timeout")
    if d.get("expect_client") not in (None, "reject"):
        raise ctx.error("expect_client", "`reject` when given", d, "expect_client")
    if d.get("transport", "") not in ("", "h2", "h3"):
        raise ctx.error("transport", "`h2` or `h3` when given (the case runs only over HTTP/2 or HTTP/3)",
                        d, "transport")
    steps = _steps(ctx, d)
    if d.get("transport", "") != "h2" and any(isinstance(st, H2_STEP_TYPES) for st in steps):
        raise ctx.error("steps", "HTTP/2 steps (h2_*) need `transport: h2`", d, "steps")
    if d.get("transport", "") != "h3" and any(isinstance(st, H3_STEP_TYPES) for st in steps):
        raise ctx.error("steps", "HTTP/3 steps (h3_*) need `transport: h3`", d, "steps")
    return Case(
        id=cid, title=_req_str(ctx, d, "title"), description=str(d.get("description", "")).strip(),
        expectation=str(d.get("expectation", "")).strip(), rfc=tuple(str(r) for r in rfc),
        level=level, group=group, source=f"{ctx.path}:{ctx.line}", rule=rule_id, role=role,
        timeout=float(timeout) if timeout is not None else None,
        exclusive=bool(d.get("exclusive", False)), size_limited=_case_flag(ctx, d, "size_limited"),
        handshake=_spec(ctx, d, "handshake", parse_handshake),
        expect_response=_spec(ctx, d, "expect_response", _expect_response),
        deflate=_spec(ctx, d, "deflate", _deflate), expect_client=d.get("expect_client"),
        transport=str(d.get("transport", "")),
        steps=steps, expect=_expect(ctx, d), close=_close(ctx, d),
        resources=_spec(ctx, d, "resources", parse_limits),
    )


def _case_flag(ctx: _Ctx, d: LDict, key: str) -> bool:
    value = d.get(key, False)
    if not isinstance(value, bool):
        raise ctx.error(key, "true or false", d, key)
    return value


def _known_rule(ctx: _Ctx, d: LDict, rule_id: str) -> None:
    declare_all_rules()
    if rule_id not in RULES:
        raise ctx.error("rule", f"unknown rule id {rule_id!r} (see `conformance rules`)", d, "rule")


def declare_all_rules() -> None:
    """Import every module that declares rules, so the registry is complete."""
    import importlib

    for mod in ("conformance.engine.connection", "conformance.engine.handshake",
                "conformance.engine.deflate", "conformance.engine.h2rules",
                "conformance.engine.h3rules"):
        importlib.import_module(mod)


_T = TypeVar("_T")


def _spec(ctx: _Ctx, d: LDict, key: str, parse: Callable[[dict[str, Any]], _T]) -> _T | None:
    """An optional mapping of the case, validated into its spec; errors name the field."""
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, dict):
        raise ctx.error(key, "must be a mapping", d, key)
    try:
        return parse(v)
    except (ValueError, TypeError) as exc:
        raise ctx.error(key, str(exc), d, key) from None


def _keys(v: dict[str, Any], cls: type, what: str) -> None:
    bad = set(v) - spec_keys(cls)
    if bad:
        raise ValueError(f"unknown {what} key(s) {', '.join(sorted(map(str, bad)))}; "
                         f"allowed: {', '.join(sorted(spec_keys(cls)))}")


def _text(v: Any, what: str) -> str:
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        raise ValueError(f"{what} is a string")
    return str(v)


def _header_edits(v: Any, what: str) -> HeaderEdits:
    if v is None:
        return ()
    if not isinstance(v, dict):
        raise ValueError(f"`{what}` is a mapping of header name to value (a list for several, null to remove)")
    out = []
    for name, value in v.items():
        values = value if isinstance(value, list) else [] if value is None else [value]
        out.append((_text(name, "a header name"), tuple(_text(x, f"the value of {name}") for x in values)))
    return tuple(out)


def parse_handshake(v: dict[str, Any]) -> HandshakeSpec:
    _keys(v, HandshakeSpec, "handshake")
    extra = v.get("extra_headers") or []
    if not isinstance(extra, list) or not all(isinstance(p, list) and len(p) == 2 for p in extra):
        raise ValueError("`extra_headers` is a list of [name, value] pairs")
    protos = v.get("subprotocols") or []
    if not isinstance(protos, list):
        raise ValueError("`subprotocols` is a list of names")
    return HandshakeSpec(
        raw=parse_payload(v["raw"]) if v.get("raw") is not None else None,
        method=_opt_text(v, "method"), path=_opt_text(v, "path"), http_version=_opt_text(v, "http_version"),
        headers=_header_edits(v.get("headers"), "headers"),
        extra_headers=tuple((_text(a, "a header name"), _text(b, "a header value")) for a, b in extra),
        subprotocols=tuple(_text(p, "a subprotocol") for p in protos),
        response=_response(v["response"]) if v.get("response") is not None else None)


def _response(v: Any) -> ResponseSpec:
    if not isinstance(v, dict):
        raise ValueError("`response` is a mapping with raw / status / reason / headers")
    _keys(v, ResponseSpec, "response")
    status = v.get("status")
    if status is not None and (not isinstance(status, int) or isinstance(status, bool)):
        raise ValueError("`response.status` is a number")
    extra = v.get("extra_headers") or []
    if not isinstance(extra, list) or not all(isinstance(p, list) and len(p) == 2 for p in extra):
        raise ValueError("`response.extra_headers` is a list of [name, value] pairs")
    chop, delay = v.get("chop", 0), v.get("delay", 0.0)
    if isinstance(chop, bool) or not isinstance(chop, int) or isinstance(delay, bool) or not isinstance(delay, (int, float)):
        raise ValueError("`response.chop` is a whole number and `response.delay` a number of seconds")
    return ResponseSpec(raw=parse_payload(v["raw"]) if v.get("raw") is not None else None, status=status,
                        reason=_opt_text(v, "reason"), headers=_header_edits(v.get("headers"), "headers"),
                        http_version=_opt_text(v, "http_version"),
                        extra_headers=tuple((_text(a, "a header name"), _text(b, "a header value")) for a, b in extra),
                        accept=_opt_text(v, "accept"),
                        before=parse_payload(v["before"]) if v.get("before") is not None else None,
                        trailer=parse_payload(v["trailer"]) if v.get("trailer") is not None else None,
                        chop=chop, delay=float(delay), redirect=_opt_text(v, "redirect"))


def _expect_response(v: dict[str, Any]) -> ExpectResponse:
    _keys(v, ExpectResponse, "expect_response")
    status = v.get("status", [101])
    status = status if isinstance(status, list) else [status]
    if not all(isinstance(x, (int, str)) and not isinstance(x, bool) for x in status):
        raise ValueError("`status` is an HTTP status, a class like \"4xx\", or a list of them")
    sub = v.get("subprotocol", ...)
    subs = None if sub is ... else tuple(None if x is None else _text(x, "a subprotocol")
                                         for x in (sub if isinstance(sub, list) else [sub]))
    return ExpectResponse(tuple(status), _required_headers(v, "headers"), _required_headers(v, "refusal_headers"), subs)


def _required_headers(v: dict[str, Any], key: str) -> tuple[tuple[str, str | None], ...]:
    headers = v.get(key) or {}
    if not isinstance(headers, dict):
        raise ValueError(f"`{key}` is a mapping of header name to the value it must carry (null: absent)")
    return tuple((_text(k, "a header name"), None if w is None else _text(w, k)) for k, w in headers.items())


def _offers(v: Any, what: str) -> tuple[OfferParams, ...]:
    if not isinstance(v, list) or not all(isinstance(o, dict) for o in v):
        raise ValueError(f"`{what}` is a list of parameter mappings")
    out = []
    for o in v:
        params = []
        for name, value in o.items():
            if value is None or value is False:
                continue  # left out, as if not written
            if not isinstance(value, (str, int)):
                raise ValueError(f"`{what}`: the value of {name} is true, a number or a string")
            params.append((str(name), value))
        out.append(tuple(params))
    return tuple(out)


def _deflate(v: dict[str, Any]) -> DeflateSpec:
    _keys(v, DeflateSpec, "deflate")
    return DeflateSpec(_offers(v.get("offers") or [], "offers"),
                       _offers(v["accept"], "accept") if v.get("accept") is not None else None,
                       bool(v.get("required", True)))


def _opt_text(v: dict[str, Any], key: str) -> str | None:
    return None if v.get(key) is None else _text(v[key], f"`{key}`")


def _steps(ctx: _Ctx, d: LDict) -> tuple[Step, ...]:
    raw = d.get("steps", [])
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ctx.error("steps", "a list of steps", d, "steps")
    out = []
    for i, s in enumerate(raw):
        line = raw.lines[i] if isinstance(raw, LList) and i < len(raw.lines) else ctx.line
        sctx = _Ctx(ctx.path, line)
        if not isinstance(s, dict) or len(s) != 1:
            raise sctx.error("steps", "each step is a mapping with exactly one key")
        (kind, value), = s.items()
        parser = _STEP_PARSERS.get(kind)
        if parser is None:
            raise sctx.error(f"steps[{i}]", f"unknown step {kind!r}; known: {', '.join(sorted(_STEP_PARSERS))}")
        try:
            out.append(parser(value, line))
        except (ValueError, TypeError) as exc:
            raise sctx.error(f"steps[{i}].{kind}", str(exc)) from None
    return tuple(out)


def _frame(v: Any, opcode: Opcode | None = None) -> FrameSpec:
    if opcode is not None and (not isinstance(v, dict) or set(v) & {"hex", "repeat", "repeat_hex", "corpus"}):
        v = {"payload": v}  # send_ping / send_pong take a bare payload too
    if not isinstance(v, dict):
        raise ValueError("a frame is a mapping with at least `opcode`")
    _keys(v, FrameSpec, "frame")
    op = opcode if opcode is not None else _opcode(v.get("opcode"))
    mask = v.get("mask")
    if isinstance(mask, str):
        try:
            mask = bytes.fromhex(mask)
        except ValueError:
            raise ValueError("a fixed mask is 8 hex digits") from None
    elif mask is not None and not isinstance(mask, bool):
        raise ValueError("`mask` is true, false or 8 hex digits")
    return FrameSpec(
        op, parse_payload(v.get("payload", "")), _flag(v, "fin", True), None if v.get("rsv1") is None
        else _flag(v, "rsv1", False), _flag(v, "rsv2", False), _flag(v, "rsv3", False), mask,
        _opt_int(v, "length_form"), _opt_int(v, "length"), _flag(v, "compress", False), _opt_int(v, "chop") or 0,
        _number(v.get("delay", 0) or 0))


def _flag(v: dict[str, Any], key: str, default: bool) -> bool:
    x = v.get(key, default)
    if not isinstance(x, bool):
        raise ValueError(f"`{key}` is true or false")
    return x


def _opcode(v: Any) -> Opcode:
    if v is None:
        raise ValueError("`opcode` is required")
    return Opcode.from_name(v)


def _opt_int(v: dict[str, Any], key: str) -> int | None:
    x = v.get(key)
    if x is None:
        return None
    if not isinstance(x, int) or isinstance(x, bool) or x < 0:
        raise ValueError(f"`{key}` must be a whole number >= 0")
    return x


def _message(v: Any, line: int) -> SendMessage:
    if not isinstance(v, dict):
        raise ValueError("send_message takes {opcode, payload, fragment, compress}")
    _keys(v, SendMessage, "send_message")
    compress = None if v.get("compress") is None else _flag(v, "compress", False)
    return SendMessage(parse_payload(v.get("payload", "")), _opcode(v.get("opcode", "text")),
                       _opt_int(v, "fragment") or 0, compress, line)


def _close_fields(v: Any, cls: type) -> tuple[int | None, PayloadSpec | None]:
    if not isinstance(v, dict):
        raise ValueError("a close is {code, reason} or {payload} or {}")
    _keys(v, cls, cls.key)  # type: ignore[attr-defined]
    code = v.get("code")
    if code is not None and (not isinstance(code, int) or isinstance(code, bool)):
        raise ValueError("`code` is a number 0-65535")
    return code, parse_payload(v.get("reason")) if v.get("reason") is not None else None


def _send_close(v: Any, line: int) -> SendClose:
    v = v or {}
    code, reason = _close_fields(v, SendClose)
    payload = parse_payload(v["payload"]) if "payload" in v else None
    return SendClose(code, reason, payload, line)


def _close_now(v: Any, line: int) -> CloseNow:
    code, reason = _close_fields(v or {}, CloseNow)
    return CloseNow(code, reason, line)


def _echo(v: Any, line: int) -> Echo:
    if not isinstance(v, dict) or "payload" not in v:
        raise ValueError("echo takes {payload, count, opcode, fragment, chop, compress, window}")
    _keys(v, EchoSpec, "echo")
    return Echo(EchoSpec(parse_payload(v["payload"]), _opt_int(v, "count") or 1, _opcode(v.get("opcode", "text")),
                         _opt_int(v, "fragment") or 0, _opt_int(v, "chop") or 0, _flag(v, "compress", False),
                         max(1, _opt_int(v, "window") or 1)), line)


def _h2_code(v: Any, default: int) -> int:
    """An HTTP/2 error code: a number, or null for the step's default."""
    if v is None:
        return default
    if not isinstance(v, int) or isinstance(v, bool):
        raise ValueError("an HTTP/2 error code 0-13 (RFC 9113 §7), e.g. 8 for CANCEL")
    return v


def _h2_streams(v: Any, line: int) -> H2Streams:
    return H2Streams(*_stream_fields(v, "h2_streams", H2Streams), line)


def _stream_fields(v: Any, key: str, cls: type) -> tuple[int, PayloadSpec]:
    """`count` and `payload` of h2_streams / h3_streams."""
    if not isinstance(v, dict) or "payload" not in v:
        raise ValueError(f"{key} takes {{count, payload}}")
    _keys(v, cls, key)
    return _count(v.get("count", 2)), parse_payload(v["payload"])


def _h3_code(v: Any, default: int) -> int:
    """An HTTP/3 error code: a number (0x10c is written 268 in YAML, or 0x10c), or null for the default."""
    if v is None:
        return default
    if not isinstance(v, int) or isinstance(v, bool):
        raise ValueError("an HTTP/3 error code 0x100-0x110 (RFC 9114 §8.1), e.g. 0x10c for H3_REQUEST_CANCELLED")
    return v


def _h2_settings(v: Any, line: int) -> H2Settings:
    def number(x: Any) -> int:
        if isinstance(x, bool) or not (isinstance(x, int) or (isinstance(x, str) and x.isdigit())):
            raise ValueError("h2_settings maps setting identifiers to values, e.g. {8: 1} (RFC 9113 §6.5.2)")
        return int(x)

    if not isinstance(v, dict) or not v:
        raise ValueError("h2_settings maps setting identifiers to values, e.g. {8: 1} (RFC 9113 §6.5.2)")
    return H2Settings(tuple((number(k), number(x)) for k, x in v.items()), line)


def _number(v: Any) -> float:
    if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
        raise ValueError("a number of seconds >= 0")
    return float(v)


def _count(v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ValueError("a whole number >= 1")
    return v


def _send_raw(v: Any, line: int) -> SendRaw:
    """`send_raw: PAYLOAD`, or `{payload: PAYLOAD, chop: N, delay: S}` to write it in pieces."""
    if not (isinstance(v, dict) and "payload" in v):
        return SendRaw(parse_payload(v), line)
    unknown = set(v) - {"payload", "chop", "delay"}
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}; known: payload, chop, delay")
    chop = v.get("chop", 0)
    if not isinstance(chop, int) or isinstance(chop, bool) or chop < 0:
        raise ValueError("`chop` is a whole number >= 0")
    return SendRaw(parse_payload(v["payload"]), line, chop, _number(v.get("delay", 0)))


_STEP_PARSERS: dict[str, Callable[[Any, int], Step]] = {
    SendFrame.key: lambda v, line: SendFrame(_frame(v), line),
    "send_ping": lambda v, line: SendFrame(_frame(v, Opcode.PING), line),
    "send_pong": lambda v, line: SendFrame(_frame(v, Opcode.PONG), line),
    SendMessage.key: _message,
    SendRaw.key: lambda v, line: _send_raw(v, line),
    SendClose.key: _send_close,
    CloseNow.key: _close_now,
    Wait.key: lambda v, line: Wait(_number(v), line),
    Checkpoint.key: lambda v, line: Checkpoint(_text(v, "a checkpoint label"), line),
    WaitMessages.key: lambda v, line: WaitMessages(_count(v), line),
    Echo.key: _echo,
    **RESOURCE_PARSERS,
    H2EndStream.key: lambda v, line: H2EndStream(line),
    H2Reset.key: lambda v, line: H2Reset(_h2_code(v, 8), line),
    H2Goaway.key: lambda v, line: H2Goaway(_h2_code(v, 0), line),
    H2Streams.key: lambda v, line: _h2_streams(v, line),
    H2Settings.key: _h2_settings,
    H2Get.key: lambda v, line: H2Get(_text(v, "a path such as /"), line),
    H3Fin.key: lambda v, line: H3Fin(line),
    H3Reset.key: lambda v, line: H3Reset(_h3_code(v, 0x10C), line),
    H3Goaway.key: lambda v, line: H3Goaway(line),
    H3Streams.key: lambda v, line: H3Streams(*_stream_fields(v, "h3_streams", H3Streams), line),
}
assert {k for k in _STEP_PARSERS if not k.startswith("send_p")} == {t.key for t in STEP_TYPES}


def _expect(ctx: _Ctx, d: LDict) -> Expect:
    e = d.get("expect")
    if e is None:
        return Expect()
    if not isinstance(e, dict):
        raise ctx.error("expect", "a mapping with ok / non_strict / informational / any", d, "expect")
    bad = set(e) - spec_keys(Expect)
    if bad:
        raise ctx.error("expect", f"unknown key(s) {', '.join(sorted(bad))}", e)
    anyv = e.get("any")
    if anyv not in (None, "informational", "ok", "non_strict"):
        raise ctx.error("expect.any", "one of informational, ok, non_strict", e, "any")

    def seq(key: str) -> tuple[Observation, ...] | None:
        if key not in e:
            return None
        items = e[key] or []
        if not isinstance(items, list):
            raise ctx.error(f"expect.{key}", "a list of observations", e, key)
        try:
            return tuple(_observation(o) for o in items)
        except ValueError as exc:
            raise ctx.error(f"expect.{key}", str(exc), e, key) from None

    return Expect(seq("ok") or (), seq("non_strict"), seq("informational"), anyv)


def _observation(o: Any) -> Observation:
    if not isinstance(o, dict) or len(o) != 1:
        raise ValueError("an observation is one of {text: ...}, {binary: ...}, {ping: ...}, "
                         "{pong: ...}, {timeout: label}")
    (kind, v), = o.items()
    if kind == "timeout":
        return Observation("timeout", None, str(v))
    if kind not in ("text", "binary", "ping", "pong"):
        raise ValueError(f"unknown observation {kind!r}")
    return Observation(kind, parse_payload(v))


_CLOSE_KEYS = {"by", "codes", "clean", "wrong_side_fatal", "wrong_code_fatal", "any", "linger"}


def _close(ctx: _Ctx, d: LDict) -> CloseExpect:
    c = d.get("close")
    if c is None:
        return CloseExpect()
    if not isinstance(c, dict):
        raise ctx.error("close", "a mapping with by / codes / clean", d, "close")
    bad = set(c) - _CLOSE_KEYS
    if bad:
        raise ctx.error("close", f"unknown key(s) {', '.join(sorted(bad))}", c)
    by = c.get("by", "us")
    if by not in ("us", "peer", "either"):
        raise ctx.error("close.by", "us, peer or either", c, "by")
    codes = c.get("codes", [1000])
    if isinstance(codes, int):
        codes = [codes]
    if not isinstance(codes, list) or not all(isinstance(x, int) for x in codes):
        raise ctx.error("close.codes", "a list of close codes", c, "codes")
    if c.get("any") not in (None, "informational"):
        raise ctx.error("close.any", "only `informational` is allowed", c, "any")
    linger = c.get("linger", 0)
    if isinstance(linger, bool) or not isinstance(linger, (int, float)) or not 0 <= linger <= 10:
        raise ctx.error("close.linger", "a number of seconds, 0-10", c, "linger")
    return CloseExpect(by, tuple(codes), bool(c.get("clean", True)), bool(c.get("wrong_side_fatal", False)),
                       bool(c.get("wrong_code_fatal", False)), c.get("any") == "informational", float(linger))


def _req_str(ctx: _Ctx, d: dict[str, Any], key: str) -> str:
    v = d.get(key)
    if v is None or (isinstance(v, str) and not v.strip()):
        raise ctx.error(key, "is required", d, key)
    return str(v)


def _unknown(ctx: _Ctx, d: dict[str, Any], allowed: set[str] | frozenset[str], prefix: str) -> None:
    for k in d:
        if k not in allowed:
            raise ctx.error(prefix + k, f"unknown key; allowed: {', '.join(sorted(allowed))}", d, k)


# -- consistency ---------------------------------------------------------------------------------

def check_consistent(case: Case, raw: LDict | None = None) -> None:
    """The close expectation must not contradict the behaviour expectation.

    - An alternative that is a proper prefix of another (typically `non_strict: [{text: A}]` beside
      `ok: [{text: A}, {text: A}]`) is reached only by a peer that stops early, i.e. closes or fails
      the connection; `close.by: us` would call that close FAILED, and a code list without a failure
      code would call it WRONG CODE, so the alternative could never be NON-STRICT (or OK).
    - `close.codes` without 1000 means the peer must fail the connection; unless a step sends a close
      frame first, the peer closes first, so `close.by: us` contradicts it.
    - When the peer must fail, the close code the case's rule calls for must be acceptable.
    """
    path, _, line = case.source.rpartition(":")
    lines = getattr(raw, "lines", {}) if raw is not None else {}
    at = lines.get("close", lines.get("expect", line)) or line
    where = int(at) if str(at).isdigit() else None  # a case built in code has no line

    def err(field: str, message: str) -> CaseFileError:
        return CaseFileError(path, where, field, f"case {case.id}: {message}")

    ce = case.close
    if ce.informational or case.expect.any:
        return
    fail_codes = [c for c in ce.codes if c != 1000]
    seqs = case.expect.alternatives()
    for name, seq in seqs:
        longer = [n for n, other in seqs if len(other) > len(seq) and all(
            _same_observation(a, b) for a, b in zip(seq, other, strict=False))]
        if not longer:
            continue
        if ce.by == "us":
            raise err("close.by", f"the {name} alternative is a prefix of {longer[0]}, so it is reached only "
                      "by a peer that closes early, which `close.by: us` calls FAILED; use by: either")
        if not fail_codes:
            raise err("close.codes", f"the {name} alternative is reached by a peer that closes early, but "
                      f"close.codes {list(ce.codes)} has no code it could fail with")
    sends_close = any(isinstance(s, (SendClose, CloseNow)) or (isinstance(s, SendFrame) and s.frame.opcode == 8)
                      for s in case.steps)
    if ce.by == "us" and ce.codes and len(fail_codes) == len(ce.codes) and not sends_close:
        raise err("close.by", f"close.codes {list(ce.codes)} are failure codes, so the peer must fail the "
                  "connection and closes first; `close.by: us` contradicts it (use peer or either)")
    r = RULES.get(case.rule) if case.rule else None
    if (r is not None and r.close_code is not None and ce.codes and len(fail_codes) == len(ce.codes)
            and r.close_code not in ce.codes):
        raise err("close.codes", f"the peer must fail the connection under {r.id}, whose code is "
                  f"{r.close_code}, but close.codes {list(ce.codes)} would call that code wrong")


def _same_observation(a: Observation, b: Observation) -> bool:
    if a.kind != b.kind:
        return False
    if a.kind == "timeout":
        return a.label == b.label
    return a.payload is not None and b.payload is not None and a.payload.materialize() == b.payload.materialize()


# -- selection -----------------------------------------------------------------------------------

def select(cases: Sequence[Case], include: Sequence[str] = (), exclude: Sequence[str] = ()) -> list[Case]:
    """Cases whose whole ID matches one of `include` (all if empty) and none of `exclude`.

    A pattern is a shell glob over the whole ID: '2.1' is one case, '6.4.*' a subgroup, '9.*' a
    group; a bare group or subgroup number also selects what is below it ('6.4' -> 6.4.*).
    """
    def hit(cid: str, pats: Sequence[str]) -> bool:
        return any(fnmatch.fnmatchcase(cid, p) or cid.startswith(p + ".") for p in pats)

    return [c for c in cases if (not include or hit(c.id, include)) and not hit(c.id, exclude)]
