"""Exception classes of boltzkit.

Every error raised for bad input is a :class:`BoltzkitError` *and* a built-in ``ValueError`` or
``TypeError``, so ``except ValueError`` keeps working; the message starts with the name of the
offending argument (``"fmt: unknown format 'float7'; ..."``).
"""

from __future__ import annotations

__all__ = ["BoltzkitError", "ComputationError", "InvalidArgumentError", "InvalidTypeError"]


class BoltzkitError(Exception):
    """Base class of every exception boltzkit raises on purpose."""


class InvalidArgumentError(BoltzkitError, ValueError):
    """An argument has the right type but a bad value (out of range, NaN, wrong shape, ...)."""


class InvalidTypeError(BoltzkitError, TypeError):
    """An argument has the wrong type or dtype."""


class ComputationError(BoltzkitError, RuntimeError):
    """An algorithm failed on valid input (no convergence, resources)."""
