"""Corpus slices: one copy in the common case, the same octets as the plain definition."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.catalog.payload import _slice, _utf8_cut, corpus


def plain_slice(name: str, offset: int, size: int) -> bytes:
    """The definition: the corpus repeated without end, `size` octets from `offset`, then (text)
    cut to whole code points."""
    data = corpus(name)
    out = (data * (size // len(data) + 2))[offset % len(data):][:size]
    return out if name == "binary" else _utf8_cut(out)


@pytest.mark.parametrize("name", ["json", "html", "text", "binary"])
@given(offset=st.integers(0, 3 << 20), size=st.sampled_from([0, 1, 3, 16, 4096, 131072, (1 << 20) + 7]))
@settings(max_examples=60, deadline=None)
def test_slices_match_the_definition(name: str, offset: int, size: int) -> None:
    assert _slice(name, offset, size) == plain_slice(name, offset, size)


@pytest.mark.parametrize("name", ["json", "html", "text"])
def test_text_corpora_are_utf8_and_deterministic(name: str) -> None:
    data = corpus(name)
    assert len(data) == 1 << 20
    _utf8_cut(data).decode("utf-8")
    corpus.cache_clear()
    assert corpus(name) == data
