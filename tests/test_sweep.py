"""Sweeps on a real Dask LocalCluster (2 worker processes): results, resume, faults, bad files."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from boltzkit import fpentropy as fp
from boltzkit.jobs import ConfigError
from boltzkit.store import ResultStore
from boltzkit.sweep import expand, load_sweep, sweep

distributed = pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def _write(tmp_path: Path, text: str, name: str = "sw.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


ENTROPY_SWEEP = """
type = "sweep"
task = "fpentropy.entropy"
store = "{store}"
[base]
dist = {{ law = "norm" }}
format = "bfloat16"
approx = false
[grid]
"dist.scale" = [0.5, 1.0, 2.0, 3.0]
format = ["bfloat16", "float16", "float8_e4m3fn"]
"""


def test_every_fpentropy_task_type_and_resume(tmp_path: Path, client: Any) -> None:
    store = tmp_path / "s.sqlite"
    job = load_sweep(_write(tmp_path, ENTROPY_SWEEP.format(store=store)))
    rep = sweep(job, client=client, progress=False)
    assert (rep.n_tasks, rep.n_ok, rep.n_failed, rep.n_skipped) == (12, 12, 0, 0)
    with ResultStore(store) as db:
        rows = db.rows()
    assert len(rows) == 12 and len({r.key for r in rows}) == 12
    for r in rows:  # correct results: the same numbers as a direct call
        want = fp.entropy(stats.norm(scale=r.params["dist"]["scale"]), r.params["format"]).bits
        assert r.metrics["bits"] == want
        assert r.version is not None and r.duration_s is not None and r.duration_s >= 0
    again = sweep(job, client=client, progress=False)  # a second run does no work
    assert (again.n_skipped, again.n_ok, again.n_failed) == (12, 0, 0)

    other = _write(
        tmp_path,
        f"""
type = "sweep"
task = "fpentropy.empirical"
store = "{tmp_path / "e.sqlite"}"
seeds = [1, 2]
[base]
dist = {{ law = "norm", scale = 0.02 }}
format = "bfloat16"
n = 20000
[grid]
format = ["bfloat16", "float8_e5m2"]
""",
        "emp.toml",
    )
    rep = sweep(other, client=client, progress=False)
    assert (rep.n_ok, rep.n_failed) == (4, 0)
    curve = _write(
        tmp_path,
        f"""
type = "sweep"
task = "fpentropy.scale_curve"
store = "{tmp_path / "c.sqlite"}"
[base]
dist = {{ law = "laplace" }}
format = "bfloat16"
n = 3
""",
        "curve.toml",
    )
    rep = sweep(curve, client=client, progress=False)
    assert rep.n_ok == 1
    with ResultStore(tmp_path / "c.sqlite") as db:
        (row,) = db.rows()
        assert sorted(row.arrays) == ["exact", "paper", "scales"]
        assert db.array(row.key, "scales").shape == (3,)


def test_hmc_and_spin_task_types(tmp_path: Path, client: Any) -> None:
    from boltzkit import hmc
    from boltzkit import spin as sp

    hm = _write(
        tmp_path,
        f"""
type = "sweep"
task = "hmc.sample"
store = "{tmp_path / "h.sqlite"}"
seeds = [3]
[base]
target = {{ name = "gaussian_aniso", dim = 2, log10_cond = 1.0 }}
n_samples = 300
n_chains = 4
step_size = 0.2
n_leapfrog = 5
[grid]
method = ["hmc", "mjhmc"]
""",
        "hmc.toml",
    )
    rep = sweep(hm, client=client, progress=False)
    assert (rep.n_ok, rep.n_failed) == (2, 0)
    with ResultStore(tmp_path / "h.sqlite") as db:
        rows = db.rows()
        for r in rows:  # the stored metrics are those of a direct call with the same seed
            tr = hmc.sample(hmc.GaussianAniso(dim=2, log10_cond=1.0), method=r.params["method"], n_samples=300,
                            n_chains=4, step_size=0.2, n_leapfrog=5, x0="exact", seed=3)  # fmt: skip
            assert r.metrics["ess_per_grad_x2_min"] == tr.efficiency()["ess_per_grad_x2_min"]
            assert r.metrics["n_grad_total"] == int(tr.n_grad.sum())
            assert db.array(r.key, "autocorrelation")[0] == pytest.approx(1.0)

    # exact enumeration of a periodic ferromagnetic ring against the transfer-matrix closed form
    ex = _write(
        tmp_path,
        f"""
type = "sweep"
task = "spin.exact"
store = "{tmp_path / "x.sqlite"}"
[base]
kind = "ferro_chain"
n = 12
[grid]
T = [0.5, 1.0, 2.0]
""",
        "exact.toml",
    )
    assert sweep(ex, client=client, progress=False).n_ok == 3
    with ResultStore(tmp_path / "x.sqlite") as db:
        for r in db.rows():
            b, n = 1.0 / r.params["T"], 12
            ln_z = np.log((2 * np.cosh(b)) ** n + (2 * np.sinh(b)) ** n)
            assert r.metrics["ln_z_per_spin"] == pytest.approx(ln_z / n, rel=1e-12)

    an = _write(
        tmp_path,
        f"""
type = "sweep"
task = "spin.anneal"
store = "{tmp_path / "a.sqlite"}"
seeds = [0, 1]
[base]
instance = {{ kind = "sk", n = 64 }}
num_reads = 4
[grid]
num_sweeps = [10, 200]
""",
        "anneal.toml",
    )
    assert sweep(an, client=client, progress=False).n_ok == 4
    with ResultStore(tmp_path / "a.sqlite") as db:
        rows = db.rows()
        for r in rows:  # the stored energies are those of the seed's instance and anneal
            m = sp.sk(64, seed=r.seed)
            want = m.anneal(4, r.params["num_sweeps"], seed=r.seed).energies / 64
            np.testing.assert_array_equal(db.array(r.key, "e_per_spin"), want)
            assert -0.80 < r.metrics["best_e_per_spin"] < -0.5  # SK ground state ≈ −0.76 per spin
    nn = _write(
        tmp_path,
        f"""
type = "sweep"
task = "spin.nn_tc"
store = "{tmp_path / "n.sqlite"}"
[base]
hidden = [16]
steps = 30
n_snapshots = 3
""",
        "nn.toml",
    )
    assert sweep(nn, client=client, progress=False).n_ok == 1
    with ResultStore(tmp_path / "n.sqlite") as db:
        (r,) = db.rows()
        assert r.metrics["tc_theory_init"] > 0 and db.array(r.key, "T_c").shape == (3,)


@pytest.mark.parametrize(
    ("task", "body", "message"),
    [
        ("hmc.sample", '[base]\ntarget = { name = "nope" }\nstep_size = 0.1\n', "target.name"),
        ("hmc.sample", '[base]\ntarget = { name = "funnel" }\nwarmup = 0\n', "step_size is required"),
        ("hmc.sample", '[base]\ntarget = { name = "funnel" }\nstep_size = 0.1\nmethod = "bogus"\n', "method"),
        ("spin.anneal", '[base]\ninstance = { kind = "sk", n = 8 }\nbeta_range = [2.0, 1.0]\n', "beta_range"),
        ("spin.anneal", '[base]\ninstance = { kind = "sk", n = 8, q = 1 }\n', "unknown key 'q'"),
        ("spin.exact", "[base]\nn = 40\n", "n"),
    ],
)
def test_bad_hmc_and_spin_sweeps(tmp_path: Path, task: str, body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_sweep(_write(tmp_path, f'type = "sweep"\ntask = "{task}"\n' + body))


def test_a_failing_task_is_stored_with_its_message(tmp_path: Path, client: Any) -> None:
    store = tmp_path / "f.sqlite"
    text = f"""
type = "sweep"
task = "fpentropy.entropy"
store = "{store}"
batch_size = 1
[base]
dist = {{ law = "norm" }}
format = "float16"
approx = false
[grid]
method = ["enumerate", "classes"]
format = ["float16", "float32"]
"""
    rep = sweep(_write(tmp_path, text), client=client, progress=False)
    assert (rep.n_ok, rep.n_failed) == (3, 1)  # float32 cannot be enumerated
    with ResultStore(store) as db:
        (bad,) = db.rows(status="failed")
        assert bad.params["format"] == "float32" and bad.params["method"] == "enumerate"
        assert "cells to enumerate" in (bad.error or "") and "Traceback" in (bad.traceback or "")
    # a re-run retries the failed task only (and it fails again, still one row per task)
    rep = sweep(_write(tmp_path, text), client=client, progress=False)
    assert (rep.n_skipped, rep.n_failed) == (3, 1)
    with ResultStore(store) as db:
        assert len(db.rows()) == 4


def _slow_sweep(store: Path, n_points: int) -> str:
    """A sweep of `n_points` scale-curve tasks of a few hundred milliseconds each, one per Dask task."""
    scales = ", ".join(f"{0.5 + 0.05 * i:.2f}" for i in range(n_points))
    return f"""
type = "sweep"
task = "fpentropy.scale_curve"
store = "{store}"
batch_size = 1
[base]
dist = {{ law = "norm" }}
format = "bfloat16"
n = 4
[grid]
"dist.scale" = [{scales}]
"""


def test_killing_a_worker_mid_sweep_loses_and_duplicates_nothing(tmp_path: Path, client: Any) -> None:
    store = tmp_path / "k.sqlite"
    text = _slow_sweep(store, 12)
    pids_before = set(client.run(os.getpid).values())
    result: dict[str, Any] = {}
    t = threading.Thread(target=lambda: result.update(rep=sweep(_write(tmp_path, text), client=client, progress=False)))
    t.start()
    deadline = time.time() + 60
    killed = False
    while time.time() < deadline and not killed:  # wait until work is under way, then kill one worker
        time.sleep(0.05)
        if store.exists():
            with ResultStore(store) as db:
                if db.count().get("ok", 0) >= 2:
                    victim = sorted(client.scheduler_info()["workers"])[0]
                    with contextlib.suppress(Exception):  # the worker dies before it can answer
                        client.run(os._exit, 1, workers=[victim])
                    killed = True
    t.join(timeout=300)
    assert killed
    client.wait_for_workers(2, timeout=60)
    assert set(client.run(os.getpid).values()) != pids_before  # the nanny restarted the killed worker
    rep = result["rep"]
    assert (rep.n_tasks, rep.n_failed) == (12, 0)
    with ResultStore(store) as db:
        rows = db.rows()
    assert len(rows) == 12 and len({r.key for r in rows}) == 12 and all(r.status == "ok" for r in rows)
    for r in rows[:3]:
        scale = r.params["dist"]["scale"]
        want = fp.entropy_vs_scale(stats.norm(scale=scale), "bfloat16", 2.0 ** np.linspace(-1, 1, 4), progress=False)
        assert abs(r.metrics["wobble_amplitude"] - float(np.ptp(want.exact) / 2)) < 1e-12


HEAD = 'type = "sweep"\ntask = "fpentropy.entropy"\n'
BASE = '[base]\ndist = { law = "norm" }\nformat = "float16"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('type = "sweep"\ntask = "nope.task"\n', "unknown task type"),
        (HEAD + "grid = 3\n", "expected a table"),
        (HEAD + "bogus = 1\n" + BASE, "unknown key 'bogus'"),
        (HEAD + BASE + "[grid]\nformat = []\n", "expands to nothing"),
        (HEAD + BASE + '[grid]\nformat = ["float7"]\n', "unknown format"),
        (HEAD + '[base]\ndist = { law = "norm" }\n', "missing key 'format'"),
        (HEAD + BASE + "extra = 1\n", "unknown key 'extra'"),
        (HEAD + "batch_size = 0\n", "batch_size"),
        (HEAD + "seeds = [-1]\n", "seeds"),
    ],
)
def test_bad_sweep_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_sweep(_write(tmp_path, text))


def test_unreachable_scheduler_and_unwritable_store(tmp_path: Path) -> None:
    text = ENTROPY_SWEEP.format(store=tmp_path / "u.sqlite")
    with pytest.raises(ConfigError, match="scheduler"):
        sweep(_write(tmp_path, text), scheduler="tcp://127.0.0.1:9", progress=False)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match="store"):
        sweep(_write(tmp_path, text), store=blocker / "sub" / "s.sqlite", progress=False)


def test_cli_sweep_list_run_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from boltzkit.cli import main

    assert main(["sweep", "--list"]) == 0
    assert "fpentropy.entropy" in capsys.readouterr().out
    job = _write(tmp_path, ENTROPY_SWEEP.format(store=tmp_path / "cli.sqlite"))
    assert main(["sweep", str(job), "--workers", "2", "--no-progress"]) == 0
    assert "12 ok, 0 failed" in capsys.readouterr().out
    assert main(["sweep", str(job), "--workers", "2", "--no-progress"]) == 0
    assert "12 already stored" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "cli.sqlite"), "--out", str(tmp_path / "rep")]) == 0
    out = capsys.readouterr().out
    assert "fpentropy.entropy: 12 tasks" in out
    assert (tmp_path / "rep" / "fpentropy_entropy.csv").exists()
    assert (tmp_path / "rep" / "fpentropy_entropy_bits.png").exists()
    bad = _write(tmp_path, 'type = "sweep"\ntask = "fpentropy.entropy"\nwhat = 1\n', "bad.toml")
    assert main(["sweep", str(bad)]) == 2
    assert "unknown key 'what'" in capsys.readouterr().err


def test_ctrl_c_keeps_finished_tasks_and_the_next_run_resumes(tmp_path: Path, client: Any) -> None:
    import signal

    store = tmp_path / "i.sqlite"
    text = _slow_sweep(store, 16)
    job = load_sweep(_write(tmp_path, text))

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 1.5)
        try:
            rep = sweep(job, client=client, progress=False)
            interrupted = rep.interrupted
        except KeyboardInterrupt:  # arrived before the tasks were submitted
            interrupted = True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    with ResultStore(store) as db:
        done = len(db.rows(status="ok"))
    assert interrupted and done < 16
    rep = sweep(job, client=client, progress=False)
    assert rep.n_skipped == done and rep.n_ok == 16 - done
    with ResultStore(store) as db:
        assert len(db.rows()) == 16


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(
    "path", [p for p in sorted(EXAMPLES.glob("*.toml")) if 'type = "sweep"' in p.read_text()], ids=lambda p: p.name
)
def test_example_sweep_files_validate(path: Path) -> None:
    job = load_sweep(path)  # every task of the grid is validated here, before any work
    assert len(expand(job)) > 1


def test_every_mlp_task_type(tmp_path: Path, client: Any) -> None:
    from boltzkit import mlp

    text = f"""
type = "sweep"
task = "mlp.compare"
store = "{tmp_path / "m.sqlite"}"
seeds = [1]
[base]
width = 8
depth = 3
truth_samples = 4000
methods = ["mean_prop", "cov_prop"]
[grid]
act = ["relu", "tanh"]
"""
    rep = sweep(load_sweep(_write(tmp_path, text, "mlp.toml")), client=client, progress=False)
    assert (rep.n_ok, rep.n_failed) == (2, 0)
    with ResultStore(tmp_path / "m.sqlite") as db:
        for r in db.rows():  # the same numbers as a direct call
            if r.params["act"] == "relu":
                net = mlp.random_mlp([8] * 4, act="relu", init="he", seed=r.seed)
            else:
                net = mlp.random_mlp([8] * 4, act=r.params["act"], init="critical", seed=r.seed)
            direct = mlp.compare_equal_flops(net, ["cov_prop"], truth_samples=4000, seed=r.seed + 10_000)
            assert r.metrics["mse_over_var[cov_prop]"] == direct.rows[0]["mse_over_var"]
    tail = f"""
type = "sweep"
task = "mlp.tail"
store = "{tmp_path / "t.sqlite"}"
[base]
width = 8
depth = 3
n_samples = 2000
"""
    rep = sweep(load_sweep(_write(tmp_path, tail, "tail.toml")), client=client, progress=False)
    assert (rep.n_ok, rep.n_failed) == (1, 0)
