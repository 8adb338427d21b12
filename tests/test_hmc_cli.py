"""The hmc demo section and the ``hmc.sample`` TOML job."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from boltzkit.cli import main


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "job.toml"
    p.write_text(text)
    return p


def test_demo_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--quick", "--no-progress", "--only", "hmc", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "rough well" in out and "mjhmc (tuned)" in out and "grads to AC 0.5" in out
    png = tmp_path / "hmc_autocorrelation.png"
    assert png.stat().st_size > 20_000


def test_sample_job(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = _write(
        tmp_path,
        'type = "hmc.sample"\n[params]\ntarget = { name = "rough_well", dim = 2, a = 10.0 }\n'
        'methods = ["hmc", "mjhmc"]\nn_samples = 300\nn_chains = 4\nstep_size = 0.5\nn_leapfrog = 5\nsave_draws = true\n'
        "[params.overrides.mjhmc]\nstep_size = 0.8\nbeta = 0.05\n",
    )
    assert main(["run", str(job), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    lines = (tmp_path / "o" / "hmc_summary.csv").read_text().splitlines()
    assert len(lines) == 3 and lines[0].startswith("method,step_size")
    assert lines[2].startswith("mjhmc,0.8,")
    assert (tmp_path / "o" / "autocorrelation.png").exists()
    d = np.load(tmp_path / "o" / "draws_hmc.npz")
    assert d["draws"].shape == (4, 300, 2)
    assert "HMC samplers on RoughWell" in capsys.readouterr().out


def test_logistic_job_loads_data(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = np.column_stack([np.ones(50), rng.standard_normal(50)])
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", (rng.random(50) < 0.5).astype(float))
    job = _write(
        tmp_path,
        f'type = "hmc.sample"\n[params]\ntarget = {{ name = "logistic", x_file = "{tmp_path / "x.npy"}", '
        f'y_file = "{tmp_path / "y.npy"}" }}\nmethods = ["lahmc"]\nn_samples = 50\nn_chains = 2\nx0 = "uniform"\n'
        "warmup = 50\n",
    )
    assert main(["run", str(job), "--out", str(tmp_path), "--no-progress"]) == 0
    assert (tmp_path / "hmc_summary.csv").exists()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ('target = { name = "gaussian_aniso" }\nstep_size = 1.0\nn_sample = 5\n', "unknown key 'n_sample'"),
        ('target = { name = "gauss" }\nstep_size = 1.0\n', r"target\.name: expected one of"),
        ('target = { name = "funnel", dim = 1 }\nstep_size = 1.0\n', "dim: must be an integer at least 2"),
        ('target = { name = "funnel", sigmaa = 1 }\nstep_size = 1.0\n', "unknown key 'sigmaa'"),
        ('target = { name = "funnel" }\nmethods = ["bogus"]\nstep_size = 1.0\n', r"methods\[0\]"),
        ('target = { name = "funnel" }\nwarmup = 0\n', "step_size is required"),
        ('target = { name = "funnel" }\nstep_size = -1.0\n', "step_size: must be > 0"),
        ('target = { name = "funnel" }\nstep_size = 1.0\nmethods = ["mjhmc"]\nbeta = 1.0\n', "beta: must be "),
        ('target = { name = "funnel" }\nstep_size = 1.0\n[params.overrides.hmc]\nstep_size = 1.0\n', "'hmc' is not one of"),
        ('target = { name = "logistic", x_file = "nope.npy", y_file = "nope.npy" }\nstep_size = 1.0\n', "cannot load"),
    ],
)
def test_bad_params_name_the_key(tmp_path: Path, params: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    job = _write(tmp_path, f'type = "hmc.sample"\n[params]\nn_samples = 5\nn_chains = 2\n{params}')
    assert main(["run", str(job), "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("boltzkit: error:")
    assert re.search(message, err), err
    assert not (tmp_path / "hmc_summary.csv").exists()
