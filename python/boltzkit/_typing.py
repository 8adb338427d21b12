"""Type aliases shared by the public modules (re-exported where they are used)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["RealArray"]

#: A real array given explicitly: a numpy array of floats or integers, or (nested) lists of numbers.
#: Unlike ``numpy.typing.ArrayLike`` it excludes ``str``, so that where an argument takes either an
#: option name or an array, a misspelled name is a type error.
RealArray = npt.NDArray[np.floating[Any]] | npt.NDArray[np.integer[Any]] | Sequence[float] | Sequence[Sequence[float]]
