"""The spin module's TOML jobs and demo section, and their error messages."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from boltzkit.cli import main
from boltzkit.errors import InvalidArgumentError


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "job.toml"
    p.write_text(text)
    return p


def test_anneal_job(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = _write(
        tmp_path,
        'type = "spin.anneal"\n[params]\ninstance = { kind = "sk", n = 64, seed = 1 }\nnum_reads = 3\nnum_sweeps = [10, 100]\n',
    )
    assert main(["run", str(job), "--out", str(tmp_path), "--no-progress"]) == 0
    lines = (tmp_path / "anneal.csv").read_text().splitlines()
    assert len(lines) == 3 and lines[0].startswith("num_sweeps,best_e_per_spin")
    assert len((tmp_path / "anneal_reads.csv").read_text().splitlines()) == 7
    assert "Simulated annealing, n = 64" in capsys.readouterr().out
    np.save(tmp_path / "J.npy", np.array([[0.0, 1.0], [1.0, 0.0]]))
    job = _write(tmp_path, f'type = "spin.anneal"\n[params]\ninstance = {{ file = "{tmp_path / "J.npy"}" }}\nnum_sweeps = [20]\n')
    assert main(["run", str(job), "--out", str(tmp_path), "--no-progress"]) == 0
    assert float((tmp_path / "anneal.csv").read_text().splitlines()[1].split(",")[1]) == -0.5


def test_mpf_job(tmp_path: Path) -> None:
    job = _write(tmp_path, 'type = "spin.mpf"\n[params]\nn = 6\nsamples = [500]\n')
    assert main(["run", str(job), "--out", str(tmp_path), "--no-progress"]) == 0
    assert len((tmp_path / "mpf.csv").read_text().splitlines()) == 3


def test_nn_phases_job_on_a_user_npz(tmp_path: Path) -> None:
    """A user-supplied MNIST-style file in the layout of Keras' ``mnist.npz`` (uint8 images)."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(160, 4, 4), dtype=np.uint8)
    y = (x.reshape(160, -1).astype(np.int64).sum(1) > 16 * 127).astype(np.uint8)
    np.savez(tmp_path / "tiny.npz", x_train=x[:120], y_train=y[:120], x_test=x[120:], y_test=y[120:])
    job = _write(
        tmp_path,
        f'type = "spin.nn_phases"\n[params]\ndataset = "{tmp_path / "tiny.npz"}"\nhidden = [6]\nactivations = ["relu"]\n'
        "steps = 40\nn_snapshots = 4\n",
    )
    assert main(["run", str(job), "--out", str(tmp_path), "--no-progress"]) == 0
    assert len((tmp_path / "nn_phases.csv").read_text().splitlines()) == 5
    assert (tmp_path / "spin_nn_tc_vs_training.png").stat().st_size > 10_000
    # the fitted power law of T_c against training time
    head, row = (tmp_path / "nn_power_law.csv").read_text().splitlines()[:2]
    fields = dict(zip(head.split(","), row.split(","), strict=True))
    assert fields["activation"] == "relu" and np.isfinite(float(fields["exponent"]))
    assert float(fields["ci_low"]) <= float(fields["exponent"]) <= float(fields["ci_high"])


def test_user_npz_layouts(tmp_path: Path) -> None:
    from boltzkit.spin import nn

    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=(50, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, size=50)
    np.savez(tmp_path / "keras.npz", x_train=x[:40], y_train=y[:40], x_test=x[40:], y_test=y[40:])
    xtr, ytr, xte, yte = nn.load_npz(tmp_path / "keras.npz")
    assert xtr.shape == (40, 784) and xte.shape == (10, 784)  # the given split is kept, images flattened
    np.testing.assert_allclose(xtr, x[:40].reshape(40, -1) / x[:40].max())
    np.testing.assert_array_equal(yte, y[40:])
    np.savez(tmp_path / "xy.npz", x=x, y=y)
    xtr, ytr, xte, yte = nn.load_npz(tmp_path / "xy.npz", test_fraction=0.2)
    assert len(xtr) == 40 and len(xte) == 10 and xtr.max() <= 1.0
    # every image keeps its own label through the split
    lookup = {x[k].tobytes(): y[k] for k in range(50)}
    for xi, yi in zip(np.vstack([xtr, xte]), np.concatenate([ytr, yte]), strict=True):
        assert lookup[np.rint(xi * x.max()).astype(np.uint8).reshape(28, 28).tobytes()] == yi
    np.savez(tmp_path / "bad.npz", images=x)
    with pytest.raises(InvalidArgumentError, match="x_train"):
        nn.load_npz(tmp_path / "bad.npz")


def test_spin_demo_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("sklearn")
    assert main(["demo", "--quick", "--only", "spin", "--no-progress", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Exact enumeration of SK" in out and "MLPs on 8x8 digits" in out
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ["spin_exact_ising_anneal.png", "spin_nn_bond_spectrum.png", "spin_nn_tc_vs_training.png"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ('instance = { kind = "sk", n = 10 }\nnum_reeds = 3\n', "unknown key 'num_reeds'"),
        ('instance = { kind = "sk", n = 10, sed = 1 }\n', r"instance: unknown key 'sed'"),
        ('instance = { kind = "glass", n = 10 }\n', r"instance.kind: expected one of"),
        ('instance = { kind = "sk" }\n', "missing key 'n'"),
        ('instance = { kind = "sk", n = 10 }\nnum_sweeps = [0]\n', "num_sweeps: every value must be >= 1"),
        ('instance = { kind = "sk", n = 10 }\nproposal = "gibbs"\n', "proposal: expected one of"),
        ('instance = { kind = "sk", n = 10 }\nbeta_range = [1.0]\n', r"beta_range: expected \[hot, cold\]"),
        ('instance = { file = "/nonexistent/J.npy" }\n', "cannot load"),
    ],
)
def test_bad_anneal_params_name_the_key(tmp_path: Path, params: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    job = _write(tmp_path, f'type = "spin.anneal"\n[params]\n{params}')
    assert main(["run", str(job), "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("boltzkit: error:")
    assert re.search(message, err), err
