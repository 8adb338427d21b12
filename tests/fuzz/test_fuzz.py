"""The bounded fuzz profile: a few thousand generated bad and extreme calls over every public entry
point, each in a forked child with a timeout and an address-space limit; zero defects allowed.

The long profile is ``python benches/fuzz.py --cases 100000``. ``BOLTZKIT_FUZZ_CASES`` sets the
number of cases here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fuzz.run import collect_entries

HERE = Path(__file__).resolve().parent


def test_every_fuzz_module_has_entries() -> None:
    names = [e.name for e in collect_entries()]
    assert len(names) == len(set(names)), "entry names must be unique"
    assert names


def test_bounded_fuzz_profile_has_no_defects(tmp_path: Path) -> None:
    cases = int(os.environ.get("BOLTZKIT_FUZZ_CASES", "3000"))
    out = tmp_path / "fuzz.json"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "fuzz.run", "--cases", str(cases), "-q", "--json", str(out)],
        cwd=HERE.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    print(proc.stdout[-20000:])
    res = json.loads(out.read_text())
    n = sum(sum(c.values()) for c in res["counts"].values())
    assert n >= min(cases, len(res["counts"])) // 2, "the campaign ran too few cases"
    if res["defects"]:
        lines = [f"{d['kind']} in {d['entry']}: {d['call']} -> {d['detail']}" for d in res["defects"][:30]]
        pytest.fail(f"{len(res['defects'])} fuzz defects:\n" + "\n".join(lines))
    assert proc.returncode == 0, proc.stderr[-3000:]
