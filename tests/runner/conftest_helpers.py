"""Shared helpers for runner tests: a small case directory and server processes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SMALL_CASES = """\
group: "1"
title: Smoke
cases:
  - id: "1.1.{n}"
    params: [{n: 1, size: 0}, {n: 2, size: 125}, {n: 3, size: 70000}]
    title: Text of {size} octets is echoed
    rfc: ["RFC 6455 §5.6"]
    steps:
      - send: {opcode: text, payload: {repeat: "*", size: "{size}"}}
    expect:
      ok: [{text: {repeat: "*", size: "{size}"}}]
  - id: "1.2.1"
    title: Ping of 126 octets fails the connection
    rfc: "RFC 6455 §5.5"
    rule: frame.control-too-long
    steps:
      - send: {opcode: ping, payload: {repeat_hex: "fe", size: 126}}
    close: {by: peer, codes: [1002], clean: false}
  - id: "1.3.1"
    title: Invalid UTF-8 fails fast
    rfc: "RFC 6455 §8.1"
    level: SHOULD
    steps:
      - send: {opcode: text, fin: false, payload: {hex: "cebae1bdb9cf83cebcceb5"}}
      - checkpoint: A
      - send: {opcode: continuation, fin: false, payload: {hex: "f4908080"}}
      - checkpoint: B
      - send: {opcode: continuation, payload: {hex: "656469746564"}}
    expect:
      ok: [{timeout: A}]
      non_strict: [{timeout: A}, {timeout: B}]
    close: {by: peer, codes: [1007], clean: false, wrong_side_fatal: true}
  - id: "1.4.1"
    title: An unmasked client frame fails the connection
    rfc: "RFC 6455 §5.1"
    rule: frame.client-unmasked
    steps:
      - send: {opcode: text, payload: "hello", mask: false}
    close: {by: peer, codes: [1002], clean: false}
  - id: "1.5.1"
    title: Ping answered, fragmented binary echoed
    rfc: "RFC 6455 §5.5.2"
    steps:
      - send_ping: "hi"
      - send_message: {opcode: binary, payload: {repeat_hex: "00ff", size: 1000}, fragment: 100}
    expect:
      ok: [{pong: "hi"}, {binary: {repeat_hex: "00ff", size: 1000}}]
  - id: "1.6.1"
    title: Invalid close code is answered with 1002
    rfc: "RFC 6455 §7.4.1"
    rule: close.code-invalid
    steps:
      - send_close: {code: 999}
    close: {by: us, codes: [1002], clean: false}
  - id: "1.7.1"
    title: Compressed echo
    rfc: "RFC 7692 §7"
    deflate: {offers: [{server_no_context_takeover: true, server_max_window_bits: 9}, {}]}
    steps:
      - echo: {count: 50, payload: {corpus: json, size: 3000, offset: rolling}, compress: true, fragment: 1000}
  - id: "1.8.1"
    title: Version 8 is refused with 426
    rfc: "RFC 6455 §4.4"
    rule: handshake.version
    handshake: {headers: {Sec-WebSocket-Version: "8"}}
    expect_response: {status: [426], headers: {Sec-WebSocket-Version: "13"}}
"""


def write_cases(tmp: Path, text: str = SMALL_CASES) -> Path:
    d = tmp / "cases"
    d.mkdir(exist_ok=True)
    (d / "1_smoke.yaml").write_text(text, encoding="utf-8")
    return d


def verdicts(out: Path) -> dict[str, tuple[str, str]]:
    index: dict[str, Any] = json.loads((out / "index.json").read_text())
    (agent,) = index
    return {cid: (v["behavior"], v["behaviorClose"]) for cid, v in index[agent].items()}
