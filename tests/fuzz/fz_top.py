"""Fuzz entries of the top-level API (thread control)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

import boltzkit
from fuzz._harness import Call, Entry
from fuzz._strategies import sizes


def _set_threads(n: Any) -> Call:
    def fn() -> object:
        boltzkit.set_num_threads(n)
        return boltzkit.get_num_threads()

    def check(out: object) -> None:
        assert isinstance(out, int) and 1 <= out <= 1024, out

    return Call(fn, f"set_num_threads({n!r}); get_num_threads()", check)


ENTRIES: list[Entry] = [
    Entry("set_num_threads", st.one_of(sizes(1, 8), st.none()).map(_set_threads)),
]
