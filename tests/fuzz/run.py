"""Runs the fuzz campaign: ``python -m fuzz.run --cases N`` from ``tests/`` (or ``benches/fuzz.py``).

Cases are spread evenly over every entry of every ``fz_*`` module; each runs in a forked child
(:mod:`fuzz._harness`). Prints a table of outcomes per entry and every defect with the call that
caused it; exits 1 if there was any defect.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hyp_seed

from fuzz._harness import DEFECTS, OUTCOMES, Call, Entry, Outcome, run_call

__all__ = ["collect_entries", "main", "run_campaign"]


def collect_entries(module: str | None = None) -> list[Entry]:
    """Every ``Entry`` of the ``fz_*`` modules (or of ``fz_<module>`` alone)."""
    pkg = Path(__file__).parent
    entries: list[Entry] = []
    for info in sorted(pkgutil.iter_modules([str(pkg)]), key=lambda i: i.name):
        if not info.name.startswith("fz_"):
            continue
        if module is not None and info.name != f"fz_{module}":
            continue
        mod = importlib.import_module(f"fuzz.{info.name}")
        entries.extend(mod.ENTRIES)
    return entries


def _run_entry(entry: Entry, n: int, seed: int, log: list[tuple[Call, Outcome]], scale: float = 1.0) -> None:
    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hyp_seed(seed)
    @given(call=entry.calls)
    def one(call: Call) -> None:
        log.append((call, run_call(call, timeout=call.timeout * scale)))

    one()


def run_campaign(
    cases: int,
    module: str | None = None,
    only: str | None = None,
    seed: int = 0,
    verbose: bool = False,
    timeout_scale: float = 1.0,
    partial: Path | None = None,
) -> dict[str, Any]:
    """Runs about ``cases`` cases over the selected entries; returns counts and defects."""
    entries = [e for e in collect_entries(module) if only is None or only in e.name]
    if not entries:
        raise SystemExit("fuzz: no entries selected")
    per = max(1, cases // len(entries))
    counts: dict[str, Counter[str]] = {}
    defects: list[dict[str, str]] = []
    longs: list[dict[str, str]] = []
    t0 = time.perf_counter()
    for e in entries:
        log: list[tuple[Call, Outcome]] = []
        t1 = time.perf_counter()
        _run_entry(e, per, seed, log, timeout_scale)
        c: Counter[str] = Counter(o.kind for _, o in log)
        counts[e.name] = c
        for call, o in log:
            if o.kind in DEFECTS:
                defects.append({"entry": e.name, "kind": o.kind, "call": call.desc[:300], "detail": o.detail[:600]})
            elif o.kind == "long":
                longs.append({"entry": e.name, "call": call.desc[:300], "seconds": f"{o.seconds:.1f}"})
        if partial is not None:  # what is done so far survives an interrupted run
            done = {"counts": {k: dict(v) for k, v in counts.items()}, "defects": defects, "long": longs}
            partial.write_text(json.dumps({**done, "seconds": time.perf_counter() - t0}, indent=1))
        if verbose:
            bad = sum(v for k, v in c.items() if k in DEFECTS)
            print(f"{e.name:<40} {sum(c.values()):>6} cases {time.perf_counter() - t1:7.1f} s  defects {bad}", flush=True)
    return {
        "counts": {k: dict(v) for k, v in counts.items()},
        "defects": defects,
        "long": longs,
        "seconds": time.perf_counter() - t0,
    }


def table(result: dict[str, Any]) -> str:
    """A markdown table: cases per entry point and outcomes by class."""
    cols = list(OUTCOMES)
    lines = ["| entry | cases | " + " | ".join(cols) + " |", "|---|---:|" + "---:|" * len(cols)]
    total: Counter[str] = Counter()
    for name, c in result["counts"].items():
        total.update(c)
        lines.append(f"| {name} | {sum(c.values())} | " + " | ".join(str(c.get(k, 0)) for k in cols) + " |")
    lines.append(f"| **all** | {sum(total.values())} | " + " | ".join(str(total.get(k, 0)) for k in cols) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="fuzz", description=__doc__)
    p.add_argument("--cases", type=int, default=2000, help="total cases, spread evenly over the entries")
    p.add_argument("--module", default=None, help="only the entries of fz_<module>")
    p.add_argument("--only", default=None, help="only entries whose name contains this text")
    p.add_argument("--seed", type=int, default=0, help="changes the cases drawn")
    p.add_argument("--json", default=None, help="write counts and defects to this file")
    p.add_argument(
        "--timeout-scale",
        type=float,
        default=1.0,
        help="multiplies every case's wall-clock limit (20 s by default): for a machine shared with other work",
    )
    p.add_argument("-q", "--quiet", action="store_true")
    a = p.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    res = run_campaign(
        a.cases,
        a.module,
        a.only,
        a.seed,
        verbose=not a.quiet,
        timeout_scale=a.timeout_scale,
        partial=Path(a.json) if a.json else None,
    )
    print(table(res))
    for d in res["long"]:
        print(f"LONG (stopped by SIGINT after {d['seconds']} s) {d['entry']}: {d['call']}")
    for d in res["defects"]:
        print(f"DEFECT {d['kind']:<16} {d['entry']}: {d['call']}\n    -> {d['detail']}")
    n_def = len(res["defects"])
    n_all = sum(sum(c.values()) for c in res["counts"].values())
    print(f"fuzz: {n_all} cases over {len(res['counts'])} entries in {res['seconds']:.0f} s, {n_def} defects")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    return 1 if n_def else 0


if __name__ == "__main__":
    sys.exit(main())
