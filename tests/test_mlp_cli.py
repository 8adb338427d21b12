"""The mlp module's TOML job, sweep tasks and demo section."""

from __future__ import annotations

from pathlib import Path

import pytest

from boltzkit.cli import main
from boltzkit.jobs import ConfigError
from boltzkit.tasks import TASKS, check_params


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "job.toml"
    p.write_text(text)
    return p


def test_compare_job(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = _write(
        tmp_path,
        'type = "mlp.compare"\n[params]\nwidths = [16, 24]\ndepths = [3]\nactivations = ["relu", "tanh"]\n'
        'methods = ["mean_prop", "cov_prop", "cov_prop:2"]\ntruth_samples = 5000\n',
    )
    assert main(["run", str(job), "--out", str(tmp_path), "--no-progress"]) == 0
    lines = (tmp_path / "mlp_compare.csv").read_text().splitlines()
    assert len(lines) == 1 + 2 * 1 * 2 * 3 and lines[0].startswith("act,depth,width,seed,method")
    assert (tmp_path / "mlp_mse_vs_flops.png").stat().st_size > 1000
    assert "Equal-FLOPs comparison" in capsys.readouterr().out
    bad = _write(tmp_path, 'type = "mlp.compare"\n[params]\nmethods = ["kprop"]\n')
    assert main(["run", str(bad), "--out", str(tmp_path), "--no-progress"]) != 0
    bad = _write(tmp_path, 'type = "mlp.compare"\n[params]\nwidht = [4]\n')
    assert main(["run", str(bad), "--out", str(tmp_path), "--no-progress"]) != 0
    assert "widht" in capsys.readouterr().err


def test_mlp_task_types_run_and_check() -> None:
    check_params("mlp.compare", {"width": 16, "depth": 3, "methods": ["mean_prop", "cov_prop"]}, "p")
    with pytest.raises(ConfigError, match="width"):
        check_params("mlp.compare", {"depth": 3}, "p")
    with pytest.raises(ConfigError, match="methods"):
        check_params("mlp.compare", {"width": 8, "depth": 3, "methods": ["x"]}, "p")
    m = TASKS["mlp.compare"].run({"width": 16, "depth": 3, "truth_samples": 20000}, 1, 1)
    assert m["mse_over_var[cov_prop]"] > 0 and m["speedup[mean_prop]"] > 0
    check_params("mlp.tail", {"width": 8, "depth": 3, "threshold_sd": 3.0, "n_samples": 2000}, "p")
    t = TASKS["mlp.tail"].run({"width": 8, "depth": 3, "threshold_sd": 3.0, "n_samples": 2000}, 2, 1)
    assert 0 < t["p[gauss]"] < 0.01 and t["p[is]"] > 0


def test_demo_section(tmp_path: Path) -> None:
    assert main(["demo", "--only", "mlp", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    assert (tmp_path / "mlp_mse_vs_flops.png").exists()
    assert (tmp_path / "mlp_rare_event_training.png").exists()
