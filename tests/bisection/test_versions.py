"""Releases: ordering (PEP 440 through packaging.version, semver for npm), the V1..V2 cut with and
without pre-releases, and the registry clients' answers, unknown names and an unreachable index."""

from __future__ import annotations

import os
import shutil

import pytest

from conformance.bisection.versions import Release, _pep440, _semver, between, npm_releases, pip_releases, semver_key
from conformance.errors import UsageError


def pip_list(*texts: str) -> list[Release]:
    return sorted((r for t in texts if (r := _pep440(t)) is not None), key=lambda r: r.key)


def npm_list(*texts: str) -> list[Release]:
    return sorted((r for t in texts if (r := _semver(t)) is not None), key=lambda r: r.key)


class TestOrdering:
    def test_pep440_orders_numerically_not_as_text(self) -> None:
        rels = pip_list("1.10", "1.9", "1.0.1", "2.0rc1", "2.0", "1.9.post1", "not a version")
        assert [r.text for r in rels] == ["1.0.1", "1.9", "1.9.post1", "1.10", "2.0rc1", "2.0"]

    def test_semver_pre_releases_sort_before_their_release(self) -> None:
        keys = ["2.0.0", "2.0.0-beta.10", "2.0.0-beta.2", "1.10.0", "1.9.0", "0.3.4-2", "0.3.4", "2.0.0-alpha"]
        ordered = sorted(keys, key=lambda t: semver_key(t) or ())
        assert ordered == ["0.3.4-2", "0.3.4", "1.9.0", "1.10.0", "2.0.0-alpha", "2.0.0-beta.2",
                           "2.0.0-beta.10", "2.0.0"]
        assert semver_key("latest") is None and semver_key("1.2") is None


class TestBetween:
    RELS = pip_list("1.0", "1.1", "1.2a1", "1.2", "1.3rc1", "1.3", "2.0")

    def test_from_good_to_bad_without_pre_releases(self) -> None:
        assert between(self.RELS, "1.0", "1.3") == ["1.0", "1.1", "1.2", "1.3"]

    def test_pre_releases_when_asked(self) -> None:
        assert between(self.RELS, "1.1", "1.3", pre=True) == ["1.1", "1.2a1", "1.2", "1.3rc1", "1.3"]

    def test_a_pre_release_named_as_good_or_bad_stays(self) -> None:
        assert between(self.RELS, "1.2a1", "1.3rc1") == ["1.2a1", "1.2", "1.3rc1"]

    def test_versions_equal_by_pep440_are_found(self) -> None:
        assert between(pip_list("13.0", "13.1", "14.0"), "13", "14") == ["13.0", "13.1", "14.0"]
        assert between(npm_list("8.0.0", "8.1.0"), "v8.0.0", "8.1.0") == ["8.0.0", "8.1.0"]

    def test_npm_versions(self) -> None:
        rels = npm_list("7.5.10", "8.0.0", "8.0.0-beta.1", "8.1.0", "7.5.9")
        assert between(rels, "7.5.9", "8.1.0") == ["7.5.9", "7.5.10", "8.0.0", "8.1.0"]

    @pytest.mark.parametrize(("good", "bad", "message"), [
        ("1.3", "1.0", "must be older"), ("1.1", "1.1", "must be older"),
        ("0.9", "1.3", "--good 0.9: not a version"), ("1.0", "9.9", "--bad 9.9: not a version")])
    def test_bad_ranges(self, good: str, bad: str, message: str) -> None:
        with pytest.raises(UsageError, match=message):
            between(self.RELS, good, bad)


class TestRegistries:
    """The real clients (the index and the npm registry are reachable where the tests run)."""

    def test_pip_lists_a_real_package_oldest_first(self) -> None:
        texts = [r.text for r in pip_releases("wsproto")]
        assert texts.index("1.0.0") < texts.index("1.2.0") < texts.index("1.3.2")

    def test_pip_unknown_package(self) -> None:
        with pytest.raises(UsageError, match="lists no versions.*No matching distribution"):
            pip_releases("no-such-package-conformance-4711")

    def test_pip_unreachable_index(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for var in [v for v in os.environ if v.startswith("PIP_")]:
            monkeypatch.delenv(var)
        monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # none of the machine's pip.conf either
        monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
        monkeypatch.setenv("PIP_RETRIES", "0")
        with pytest.raises(UsageError, match="--pip wsproto: the registry lists no versions"):
            pip_releases("wsproto")

    @pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed (make node)")
    def test_npm_lists_ws(self) -> None:
        texts = [r.text for r in npm_releases("ws")]
        assert texts.index("7.5.10") < texts.index("8.0.0") < texts.index("8.17.0")

    @pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed (make node)")
    def test_npm_unknown_package(self) -> None:
        with pytest.raises(UsageError, match="--npm no-such-package-conformance-4711: .*404"):
            npm_releases("no-such-package-conformance-4711")
