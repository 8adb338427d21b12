"""Thread-count control shared by every module."""

from __future__ import annotations

import numbers

from boltzkit import _core
from boltzkit.errors import InvalidArgumentError, InvalidTypeError

_DEFAULT: int | None = None
_MAX_THREADS = 1024


def _check(threads: object, name: str = "threads") -> int | None:
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral):
        raise InvalidTypeError(f"{name}: expected a positive int or None, got {type(threads).__name__}")
    n = int(threads)
    if not 1 <= n <= _MAX_THREADS:
        raise InvalidArgumentError(f"{name}: must be between 1 and {_MAX_THREADS}, got {n}")
    return n


def set_num_threads(threads: int | None) -> None:
    """Set the default thread count of every boltzkit call.

    Parameters
    ----------
    threads : int or None
        Number of worker threads; ``None`` restores the default, rayon's global pool (sized by
        ``RAYON_NUM_THREADS`` or the number of cores). A ``threads=`` argument of a call
        overrides this default. Results never depend on the thread count.

    Raises
    ------
    InvalidArgumentError
        If ``threads`` is not between 1 and 1024.
    """
    global _DEFAULT
    _DEFAULT = _check(threads)


def get_num_threads() -> int:
    """Number of threads a call with ``threads=None`` uses now."""
    return _DEFAULT if _DEFAULT is not None else int(_core.default_num_threads())


def resolve_threads(threads: int | None) -> int | None:
    """The thread count to pass to the core: the argument, else the global default."""
    t = _check(threads)
    return t if t is not None else _DEFAULT
