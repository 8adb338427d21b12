"""Plain-text tables for the CLI and the demo."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path


def _cell(v: object) -> str:
    if isinstance(v, float):
        if v == 0.0:
            return "0"
        a = abs(v)
        return f"{v:.6g}" if 1e-3 <= a < 1e6 else f"{v:.3e}"
    return str(v)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]], title: str = "") -> str:
    """Render rows as an aligned text table (floats with 6 significant digits)."""
    cells = [[_cell(v) for v in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    out = []
    if title:
        out.append(title)
    out.append("  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    out.append(line)
    out.extend("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells)
    return "\n".join(out)


def write_csv(path: Path, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Write rows to a CSV file with full float precision."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(headers)
        for r in rows:
            w.writerow([repr(float(v)) if isinstance(v, float) else v for v in r])  # np.float64 too, without "np.float64(…)"
