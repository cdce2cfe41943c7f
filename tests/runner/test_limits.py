"""The resource verdicts (runner/limits.py) from traces with chosen figures."""

from __future__ import annotations

from typing import Any

from conformance.catalog.model import Case, CloseExpect, Expect, Observation, PayloadSpec
from conformance.catalog.resources import Limits
from conformance.runner.judge import judge
from conformance.runner.session import Trace

_MIB = 1 << 20


def _case(**limits: Any) -> Case:
    return Case(id="30.9.1", title="t", rfc=("RFC 6455 §10.4",), level="SHOULD", role="server",
                expect=Expect(any="ok"), close=CloseExpect(by="either", codes=(1000, 1009), clean=False,
                                                          informational=True),
                resources=Limits(**limits))


def _trace(**measurements: Any) -> Trace:
    t = Trace(connected=True, opened=True, eof=True, eof_first=True)
    t.measurements.update(measurements)
    return t


def _server(growth: int = 0, cpu: float = 0.0, sent: int = 100, **extra: Any) -> dict[str, Any]:
    return {"rss_before": 30 * _MIB, "rss_peak": 30 * _MIB + growth, "rss_growth": growth,
            "cpu_seconds": cpu, "octets_sent": sent, **extra}


ALIVE = {"ok": True, "seconds": 0.01, "detail": "fine"}


class TestFailed:
    def test_a_dead_server_is_failed_at_must_level(self) -> None:
        v = judge(_case(), _trace(server=_server(exit="killed by signal SIGABRT (6)")))
        assert (v.behavior, v.level) == ("FAILED", "MUST") and "SIGABRT" in v.result

    def test_a_crash_outside_a_limit_case_keeps_the_wire_verdict_and_names_the_death(self) -> None:
        # 1.1.1 expects an echo that never came: FAILED on the wire, the death added to its sentence
        case = Case(id="1.1.1", title="t", rfc=("RFC 6455 §5.6",), expect=Expect(ok=(Observation("pong", PayloadSpec("literal", b"x")),)))
        assert judge(case, _trace()).behavior == "FAILED"  # the same exchange without the death
        v = judge(case, _trace(server=_server(exit="exited with status 1")))
        assert v.behavior == "FAILED" and "exited with status 1" in v.result and v.level != "informational"

    def test_a_crash_after_a_conforming_exchange_is_only_informational(self) -> None:
        # no RFC sentence forbids a crash as such (§10.4 is about size limits): named, never a MUST
        case = Case(id="2.1", title="t", rfc=("RFC 6455 §5.5.2",), expect=Expect(any="ok"),
                    close=CloseExpect(by="either", codes=(1000,), clean=False, informational=True))
        t = _trace(server=_server(exit="exited with status 1"))
        assert judge(case, _trace()).behavior == "OK"  # the same exchange without the death
        v = judge(case, t)
        assert (v.behavior, v.level) == ("INFORMATIONAL", "informational") and "exited with status 1" in v.result

    def test_a_server_that_no_longer_accepts_is_failed(self) -> None:
        v = judge(_case(), _trace(alive={"ok": False, "seconds": 0.01,
                                         "detail": "a new connection failed: [Errno 111] Connection refused"}))
        assert (v.behavior, v.level) == ("FAILED", "MUST") and "not alive" in v.result

    def test_a_server_slower_than_the_deadline_is_only_non_strict(self) -> None:
        # no answer within the deadline: a hang and a busy machine look alike (the stability run saw
        # websockets and wsproto flip to FAILED here under load), so no MUST is claimed
        v = judge(_case(), _trace(alive={"ok": False, "seconds": 5.0,
                                         "detail": "no answer to a new handshake within 5 s"}))
        assert (v.behavior, v.level) == ("NON-STRICT", "SHOULD") and "upper bound" in v.result

    def test_a_client_left_waiting_during_slowloris_is_a_hang(self) -> None:
        attack = [{"step": "request", "answer": 408, "within": 8, "probe_during": {"ok": False, "detail": "x"}}]
        assert judge(_case(), _trace(alive=ALIVE, attack=attack)).behavior == "FAILED"

    def test_a_client_left_waiting_beside_a_stuck_connection_is_a_hang(self) -> None:
        # a peer that never reads: a server that blocks on its write to it serves nobody else
        attack = [{"step": "flood", "read": False, "reaction": "stalled", "octets": 10, "seconds": 2,
                   "probe_during": {"ok": False, "detail": "a new connection failed: refused"}}]
        v = judge(_case(), _trace(alive=ALIVE, attack=attack))
        assert (v.behavior, v.level) == ("FAILED", "MUST") and "stuck" in v.result
        attack[0]["probe_during"] = {"ok": False, "detail": "no answer to a new handshake within 3 s"}
        assert judge(_case(), _trace(alive=ALIVE, attack=attack)).behavior == "NON-STRICT"


class TestShortfalls:
    def test_memory_over_the_bound_is_non_strict(self) -> None:
        v = judge(_case(rss_slack=16 * _MIB), _trace(alive=ALIVE, server=_server(growth=17 * _MIB)))
        assert (v.behavior, v.level) == ("NON-STRICT", "SHOULD") and "memory grew" in v.result

    def test_memory_under_the_bound_is_ok(self) -> None:
        v = judge(_case(rss_slack=16 * _MIB), _trace(alive=ALIVE, server=_server(growth=15 * _MIB)))
        assert v.behavior == "OK" and "memory +15.0 MiB" in v.result

    def test_a_stalled_flood_is_back_pressure_not_a_shortfall(self) -> None:
        attack = [{"step": "flood", "read": False, "reaction": "stalled", "octets": 10 * _MIB, "seconds": 2.1,
                   "within": 2, "probe_during": ALIVE}]
        v = judge(_case(), _trace(alive=ALIVE, attack=attack, server=_server(growth=_MIB)))
        assert v.behavior == "OK" and "never read: stalled after 2.1 s" in v.result

    def test_cpu_over_the_bound_is_non_strict(self) -> None:
        v = judge(_case(cpu_seconds=1), _trace(alive=ALIVE, server=_server(cpu=1.5)))
        assert v.behavior == "NON-STRICT" and "CPU" in v.result

    def test_refuse_needs_the_peer_to_end_the_connection(self) -> None:
        kept = _trace(alive=ALIVE)
        kept.eof_first, kept.close_sent_first = False, True
        assert judge(_case(answer="refuse"), kept).behavior == "NON-STRICT"
        assert judge(_case(answer="refuse"), _trace(alive=ALIVE)).behavior == "OK"

    def test_request_answers(self) -> None:
        def verdict(answer: str, got: object) -> str:
            attack = [{"step": "request", "answer": got, "within": 5, "octets": 10, "answer_s": 0.1}]
            return judge(_case(answer=answer), _trace(alive=ALIVE, attack=attack)).behavior

        assert verdict("either", 431) == verdict("either", 101) == verdict("refuse", "closed") == "OK"
        # a reset can destroy a 4xx, and whether a refusing server resets or closes is timing: both accepted
        assert verdict("either", "reset") == verdict("either", "closed") == verdict("refuse", "reset") == "OK"
        assert verdict("either", 500) == verdict("either", "none") == verdict("either", "unreachable") == "NON-STRICT"
        assert verdict("accept", 400) == verdict("refuse", 101) == "NON-STRICT"

    def test_an_informational_case_stays_informational(self) -> None:
        case = Case(id="30.9.2", title="t", rfc=("RFC 9112 §9.5",), level="informational", role="server",
                    expect=Expect(any="ok"), resources=Limits(answer="refuse"))
        attack = [{"step": "request", "answer": "none", "within": 8}]
        assert judge(case, _trace(alive=ALIVE, attack=attack)).behavior == "INFORMATIONAL"


class TestExactLimit:
    @staticmethod
    def _fact(**kw: Any) -> dict[str, Any]:
        return {"step": "exact_limit", "offset": 1, "within": 20, "limit": 1000, "stated": False,
                "probe_detail": "", "probe_attempts": 12, "probe_seconds": 0.5, "size": 1001,
                "expected": "refused", "reaction": "refused 1009", "answer": "refused", "compressed": 30, **kw}

    def test_treated_like_the_uncompressed_message_is_ok(self) -> None:
        v = judge(_case(), _trace(alive=ALIVE, attack=[self._fact()]))
        assert v.behavior == "OK" and "limit 1000 (probed with 12 connections" in v.result

    def test_one_octet_over_the_limit_accepted_is_non_strict(self) -> None:
        v = judge(_case(), _trace(alive=ALIVE, attack=[self._fact(reaction="accepted", answer="accepted")]))
        assert (v.behavior, v.level) == ("NON-STRICT", "SHOULD")
        assert "one octet over the largest uncompressed message the server accepts (1000)" in v.result

    def test_no_limit_found_is_not_judged(self) -> None:
        fact = self._fact(limit=None, size=None, probe_detail="every size up to 4096 octets was accepted: no limit")
        v = judge(_case(), _trace(alive=ALIVE, attack=[fact]))
        assert v.behavior == "INFORMATIONAL" and "Not judged" in v.result

    def test_no_answer_is_a_shortfall(self) -> None:
        v = judge(_case(), _trace(alive=ALIVE, attack=[self._fact(reaction="none", answer="none")]))
        assert v.behavior == "NON-STRICT" and "neither echoed nor refused" in v.result
        fact = self._fact(limit=None, size=None, probe_detail="no verdict on 8192 octets: none")
        assert judge(_case(), _trace(alive=ALIVE, attack=[fact])).behavior == "NON-STRICT"
