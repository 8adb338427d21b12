"""Every Python block of the README runs as written (each in a fresh interpreter, in a scratch
folder, with a non-interactive matplotlib backend), so no example uses an undefined name or an
argument the API no longer takes.

A block may be left out only explicitly, for data that is not available here: the line right
before its opening fence is ``<!-- readme-test: skip (REASON) -->`` with a reason that mentions the
data. Anything else that looks like Python (```py, ```python3) is refused, so no example escapes
the test by its fence."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
SKIP = re.compile(r"<!-- readme-test: skip \((?P<reason>[^)]*)\) -->\s*$")


def _python_blocks(text: str) -> list[tuple[str, str, str | None]]:
    """``(where, code, skip reason or None)`` of every ```python block."""
    out = []
    for m in re.finditer(r"^```python\n(.*?)^```", text, flags=re.S | re.M):
        line = text[: m.start()].count("\n") + 1
        heading = [h for h in re.findall(r"^#+ (.*)$", text[: m.start()], flags=re.M)][-1]
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.match(before)
        out.append((f"README.md:{line} ({heading})", m.group(1), skip.group("reason") if skip else None))
    return out


TEXT = README.read_text()
BLOCKS = _python_blocks(TEXT)


def test_the_readme_has_python_examples() -> None:
    assert len(BLOCKS) >= 4


def test_no_python_example_hides_behind_another_fence() -> None:
    others = re.findall(r"^```(py|python3|pycon|ipython)\s*$", TEXT, flags=re.M)
    assert not others, f"use ```python (tested) instead of: {others}"


def test_skips_are_explicit_and_only_for_missing_data() -> None:
    markers = re.findall(r"<!-- readme-test:.*?-->", TEXT)
    assert len(markers) == sum(reason is not None for _, _, reason in BLOCKS), "a marker not right before a ```python fence"
    for where, _, reason in BLOCKS:
        if reason is not None:
            assert "data" in reason.lower() and len(reason) > 10, f"{where}: skip reason {reason!r} must name the missing data"


def test_the_parser_sees_skip_markers() -> None:
    text = "# h\n\n<!-- readme-test: skip (needs the user's MNIST data) -->\n```python\nx = 1\n```\n```python\ny = 2\n```\n"
    assert [r for _, _, r in _python_blocks(text)] == ["needs the user's MNIST data", None]


@pytest.mark.parametrize("where,code,skip", BLOCKS, ids=[w for w, _, _ in BLOCKS])
def test_readme_block_runs_as_written(where: str, code: str, skip: str | None, tmp_path: Path) -> None:
    if skip is not None:
        pytest.skip(f"{where}: {skip}")
    env = {**os.environ, "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1"}
    r = subprocess.run(
        [sys.executable, "-c", code], check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
    )
    assert r.returncode == 0, f"{where} failed:\n{r.stderr[-3000:]}"
