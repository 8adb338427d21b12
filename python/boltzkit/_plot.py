"""Shared checks for the plot methods: the ``ax`` a user passes, or a new figure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import InvalidTypeError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["MARKERS", "axes_or_current", "axes_or_new", "axes_row_or_new", "next_marker"]

#: Markers cycled over the series of one Axes, so that series stay apart without colour.
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*", "h", "p")


def next_marker(ax: Axes) -> str:
    """The first marker of :data:`MARKERS` that no labelled line of ``ax`` uses yet."""
    used = {line.get_marker() for line in ax.get_lines() if not str(line.get_label()).startswith("_")}
    return next((m for m in MARKERS if m not in used), MARKERS[len(used) % len(MARKERS)])


def _check_axes(ax: object, name: str) -> Axes:
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise InvalidTypeError(f"{name}: expected a matplotlib Axes or None, got {type(ax).__name__}")
    return ax


def axes_or_new(ax: Axes | None, figsize: tuple[float, float], name: str = "ax") -> tuple[Figure, Axes]:
    """``(figure, axes)``: a new figure of ``figsize`` when ``ax`` is None, else ``ax`` checked."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, new = plt.subplots(figsize=figsize, layout="constrained")
        return fig, new
    a = _check_axes(ax, name)
    root: Any = a.get_figure(root=True)
    return root, a


def axes_row_or_new(axes: Any, n: int, figsize: tuple[float, float], name: str = "axes") -> tuple[Figure, list[Axes]]:
    """``n`` axes side by side: a new figure when ``axes`` is None, else a sequence of ``n`` Axes."""
    import matplotlib.pyplot as plt

    if axes is None:
        fig, arr = plt.subplots(1, n, figsize=figsize, squeeze=False, layout="constrained")
        return fig, list(arr[0])
    try:
        seq = list(axes)
    except TypeError:
        raise InvalidTypeError(f"{name}: expected a sequence of {n} matplotlib Axes or None, got {type(axes).__name__}") from None
    if len(seq) != n:
        raise InvalidTypeError(f"{name}: expected a sequence of {n} matplotlib Axes, got {len(seq)}")
    checked = [_check_axes(a, f"{name}[{i}]") for i, a in enumerate(seq)]
    root: Any = checked[0].get_figure(root=True)
    return root, checked


def axes_or_current(ax: Axes | None, name: str = "ax") -> Axes:
    """``ax`` checked, or pyplot's current axes when it is None (so calls can overlay)."""
    import matplotlib.pyplot as plt

    return plt.gca() if ax is None else _check_axes(ax, name)
