"""The boltzkit command line: demo, TOML jobs, and their error messages."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from boltzkit.cli import main
from boltzkit.jobs import ConfigError, load_job


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "job.toml"
    p.write_text(text)
    return p


def test_demo_writes_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--quick", "--only", "fpentropy", "--no-progress", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "float8_e4m3fn" in out and "Closed forms of K" in out
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ["fpentropy_approximation_error.png", "fpentropy_scale_wobble.png"]
    assert all((tmp_path / p).stat().st_size > 10_000 for p in pngs)


def test_console_script_runs() -> None:
    r = subprocess.run([sys.executable, "-m", "boltzkit.cli", "run", "--list"], capture_output=True, text=True, check=True)
    assert "fpentropy.entropy" in r.stdout


def test_entropy_job(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = _write(
        tmp_path,
        'type = "fpentropy.entropy"\n[params]\nformats = ["float16", "float8_e4m3fn"]\n'
        'dists = [{ law = "norm" }, { law = "t", df = 4.5, scale = 0.02 }]\n',
    )
    assert main(["run", str(job), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    text = (tmp_path / "o" / "entropy.csv").read_text().splitlines()
    assert len(text) == 5 and text[0].startswith("dist,format,H_bits")
    assert "13.4637230653" in capsys.readouterr().out.replace(" ", "") or "13.4637" in text[1]


def test_scale_sweep_and_empirical_jobs(tmp_path: Path) -> None:
    job = _write(
        tmp_path,
        'type = "fpentropy.scale_sweep"\n[params]\ndist = { law = "laplace" }\nformats = ["bfloat16"]\nn = 5\n',
    )
    assert main(["run", str(job), "--out", str(tmp_path), "--no-progress"]) == 0
    assert (tmp_path / "scale_sweep.png").exists()
    np.save(tmp_path / "w.npy", np.random.default_rng(0).standard_normal(1000).astype(np.float16))
    job = _write(
        tmp_path,
        f'type = "fpentropy.empirical"\n[params]\nfiles = ["{tmp_path / "w.npy"}"]\n'
        'dists = [{ law = "norm", scale = 0.02 }]\nformats = ["bfloat16"]\nn = 1000\n',
    )
    assert main(["run", str(job), "--out", str(tmp_path), "--no-progress"]) == 0
    assert len((tmp_path / "empirical.csv").read_text().splitlines()) == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('type = "fpentropy.entropy"\nfromats = 1\n', "unknown key 'fromats'"),
        ('type = "fpentropy.nope"\n', "type: expected one of"),
        ('[params]\nformats = ["float16"]\n', "missing key 'type'"),
        ('type = "fpentropy.entropy"\nthreads = 0.5\n', "threads: expected an integer"),
        ("type = \n", "invalid TOML"),
    ],
)
def test_bad_top_level(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_job(_write(tmp_path, text))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ('formats = ["float16"]\ndists = [{ law = "norm" }]\nmerge_zeros = true\n', "unknown key 'merge_zeros'"),
        ('formats = ["float7"]\ndists = [{ law = "norm" }]\n', r"formats\[0\].*unknown format"),
        ('formats = ["float16"]\ndists = [{ law = "nrom" }]\n', r"dists\[0\]\.law"),
        ('formats = ["float16"]\ndists = [{ law = "t" }]\n', "missing key 'df'"),
        ('formats = ["float16"]\ndists = [{ law = "norm", scale = -1 }]\n', r"scale: must be > 0"),
        ('formats = ["float16"]\ndists = [{ law = "norm", sigma = 1 }]\n', "unknown key 'sigma'"),
        ('formats = []\ndists = [{ law = "norm" }]\n', "non-empty list"),
        ('formats = ["float16"]\ndists = [{ law = "norm" }]\nmerge_zero = "yes"\n', "merge_zero: expected true or false"),
    ],
)
def test_bad_params_name_the_key(tmp_path: Path, params: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    job = _write(tmp_path, f'type = "fpentropy.entropy"\n[params]\n{params}')
    assert main(["run", str(job), "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("boltzkit: error:")
    assert re.search(message, err), err
    assert not (tmp_path / "entropy.csv").exists()
