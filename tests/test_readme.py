"""Every Python block of the README runs as written (each in a fresh interpreter, in a scratch
folder, with a non-interactive matplotlib backend), so no example uses an undefined name or an
argument the API no longer takes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_blocks() -> list[tuple[str, str]]:
    text = README.read_text()
    out = []
    for m in re.finditer(r"^```python\n(.*?)^```", text, flags=re.S | re.M):
        line = text[: m.start()].count("\n") + 1
        heading = [h for h in re.findall(r"^#+ (.*)$", text[: m.start()], flags=re.M)][-1]
        out.append((f"README.md:{line} ({heading})", m.group(1)))
    return out


BLOCKS = _python_blocks()


def test_the_readme_has_python_examples() -> None:
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("where,code", BLOCKS, ids=[w for w, _ in BLOCKS])
def test_readme_block_runs_as_written(where: str, code: str, tmp_path: Path) -> None:
    env = {**os.environ, "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1"}
    r = subprocess.run(
        [sys.executable, "-c", code], check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert r.returncode == 0, f"{where} failed:\n{r.stderr[-3000:]}"
