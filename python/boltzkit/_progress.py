"""Progress bars: shown on a terminal, silent otherwise."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def want_progress(progress: bool | None) -> bool:
    """``progress=None`` means: show a bar when stderr is a terminal."""
    if progress is None:
        return sys.stderr.isatty()
    return bool(progress)


def track(items: Iterable[T], *, total: int | None = None, desc: str = "", progress: bool | None = None) -> Iterator[T]:
    """Iterate over ``items``, with a tqdm bar when :func:`want_progress` says so."""
    if not want_progress(progress):
        yield from items
        return
    from tqdm import tqdm

    yield from tqdm(items, total=total, desc=desc, leave=False, dynamic_ncols=True)
