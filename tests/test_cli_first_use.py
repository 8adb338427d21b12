"""What a user meets first on the command line (issue 17 point 5): the wrong kind of file, an
unusable --out, report's default folder and help, sorted report tables, --metrics, and speedups
that are only bounds."""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path
from typing import Any

import pytest

from boltzkit.cli import main
from boltzkit.report import default_out, report
from boltzkit.store import ResultStore, content_key

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SWEEP_FILES = sorted(p for p in EXAMPLES.glob("*.toml") if 'type = "sweep"' in p.read_text())
JOB_FILES = sorted(p for p in EXAMPLES.glob("*.toml") if p not in SWEEP_FILES)


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    cap = capsys.readouterr()
    err = cap.err.strip()
    assert "\n" not in err, f"expected a one-line error, got:\n{err}"
    assert err.startswith("boltzkit: error: ")
    return err


# --------------------------------------------------------------------------- a. wrong kind of file


def test_the_examples_hold_both_kinds_of_file() -> None:
    assert SWEEP_FILES and JOB_FILES


@pytest.mark.parametrize("path", SWEEP_FILES, ids=[p.name for p in SWEEP_FILES])
def test_run_given_a_sweep_file_names_the_sweep_command(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(path), "--out", str(tmp_path), "--no-progress"]) == 2
    err = _error_line(capsys)
    assert "is a sweep file" in err and f"boltzkit sweep {path}" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("path", JOB_FILES, ids=[p.name for p in JOB_FILES])
def test_sweep_given_a_job_file_names_the_run_command(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", str(path), "--no-progress"]) == 2
    err = _error_line(capsys)
    assert "is a job file" in err and f"boltzkit run {path}" in err


# --------------------------------------------------------------------------- b. an unusable --out


def _store(tmp_path: Path, rows: list[dict[str, Any]] | None = None) -> Path:
    path = tmp_path / "res" / "wobble.sqlite"
    with ResultStore(path) as db:
        db.write("s", rows or [_row("fpentropy.entropy", {"format": "bfloat16", "dist": {"scale": 1.0}}, 0, {"bits": 8.0})])
    return path


def _row(task: str, params: dict[str, Any], seed: int, metrics: dict[str, Any], status: str = "ok") -> dict[str, Any]:
    return {"key": content_key(task, params, seed), "task": task, "params": params, "seed": seed, "status": status,
            "metrics": metrics}  # fmt: skip


def _argv(command: str, out: Path, tmp_path: Path) -> list[str]:
    if command == "demo":
        return ["demo", "--quick", "--only", "mlp", "--no-progress", "--out", str(out)]
    if command == "run":
        return ["run", str(EXAMPLES / "mlp_compare.toml"), "--no-progress", "--out", str(out)]
    return ["report", str(_store(tmp_path)), "--out", str(out)]


def _check_refused(argv: list[str], capsys: pytest.CaptureFixture[str], why: str) -> None:
    capsys.readouterr()
    assert main(argv) == 2
    cap = capsys.readouterr()
    err = cap.err.strip()
    assert "\n" not in err and err.startswith("boltzkit: error: --out: "), err
    assert why in err
    assert cap.out == "", "work started before --out was checked"


@pytest.mark.parametrize("command", ["demo", "run", "report"])
def test_out_that_is_a_file(command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "a_file"
    f.write_text("x")
    _check_refused(_argv(command, f, tmp_path), capsys, "is a file, not a folder")
    assert f.read_text() == "x"


@pytest.mark.parametrize("command", ["demo", "run", "report"])
def test_out_below_a_file(command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "a_file"
    f.write_text("x")
    _check_refused(_argv(command, f / "sub", tmp_path), capsys, "cannot write to")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write to any folder")
@pytest.mark.parametrize("command", ["demo", "run", "report"])
def test_out_in_an_unwritable_folder(command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        _check_refused(_argv(command, ro, tmp_path), capsys, "cannot write to")
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize("command", ["demo", "run", "report"])
def test_out_on_a_read_only_filesystem(command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = Path("/sys/boltzkit-out-test")
    try:
        target.mkdir()
    except OSError:
        pass
    else:  # pragma: no cover - a machine whose /sys is writable
        target.rmdir()
        pytest.skip("/sys is writable here")
    _check_refused(_argv(command, target, tmp_path), capsys, "cannot write to")


# --------------------------------------------------------------------------- c. report's default folder


def test_report_help_states_the_real_default_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "results/wobble.sqlite -> results/wobble-report" in help_text
    store = _store(tmp_path)
    assert default_out(Path("results/wobble.sqlite")) == Path("results/wobble-report")
    assert main(["report", str(store)]) == 0
    # the folder the help promises, worked out by hand from the store's path
    assert (tmp_path / "res" / "wobble-report" / "fpentropy_entropy.csv").exists()


# --------------------------------------------------------------------------- d. sorted tables


def _read_csv(path: Path) -> list[list[str]]:
    with path.open() as fh:
        return list(csv.reader(fh))


def test_report_tables_are_sorted_numerically_and_have_no_duplicated_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scales = [10.0, 9.0, 0.5, 2.0, 100.0]  # text order would put 10 and 100 before 2 and 9
    formats = ["float16", "bfloat16"]
    rows = [
        _row(
            "fpentropy.entropy",
            {"format": f, "dist": {"scale": s}, "method": "auto"},
            seed,
            {"bits": s + seed, "method": 1.0, "seed": 7.0},
        )
        for f in formats
        for s in scales
        for seed in (1, 0)
    ]
    random.Random(3).shuffle(rows)
    store = _store(tmp_path, rows)
    out = tmp_path / "rep"
    assert main(["report", str(store), "--out", str(out)]) == 0
    table = _read_csv(out / "fpentropy_entropy.csv")
    header, body = table[0], table[1:]
    assert len(header) == len(set(header)), header
    assert header[:4] == ["dist.scale", "format", "seed", "status"]
    got = [(float(r[0]), r[1], int(r[2])) for r in body]
    assert got == sorted(got, key=lambda t: (t[0], t[1], t[2]))
    assert [g[0] for g in got[::4]] == sorted(scales)
    printed = capsys.readouterr().out
    lines = [ln for ln in printed.splitlines() if ln.strip().startswith(("0.5", "2 ", "9 ", "10 ", "100 "))]
    assert [ln.split()[0] for ln in lines[::4]] == ["0.5", "2", "9", "10", "100"]


# --------------------------------------------------------------------------- e. --metrics


def _many_metrics_store(tmp_path: Path) -> Path:
    names = [f"m{i:02d}" for i in range(11)]
    rows = [
        _row(
            "fpentropy.entropy",
            {"format": "bfloat16", "dist": {"scale": s}},
            0,
            {**{n: s * (i + 1) for i, n in enumerate(names)}, "p_overflow": 0.0},
        )
        for s in (0.5, 1.0, 2.0)
    ]
    return _store(tmp_path, rows)


def test_report_metrics_chooses_the_plots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = _many_metrics_store(tmp_path)
    out = tmp_path / "rep"
    assert main(["report", str(store), "--out", str(out), "--metrics", "m10, m03"]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["fpentropy_entropy_m03.png", "fpentropy_entropy_m10.png"]
    capsys.readouterr()


def test_report_without_metrics_says_which_were_plotted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = _many_metrics_store(tmp_path)
    out = tmp_path / "rep"
    assert main(["report", str(store), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    plotted = [f"m{i:02d}" for i in range(8)]
    assert f"plotted 8 of 11 metrics: {', '.join(plotted)}" in text
    assert "not plotted: m08, m09, m10" in text and "--metrics" in text
    # an all-zero metric gives no empty plot, and the report says why
    assert "zero in every task: p_overflow" in text
    assert sorted(p.stem.removeprefix("fpentropy_entropy_") for p in out.glob("*.png")) == plotted


def test_report_unknown_metric_lists_the_available_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = _many_metrics_store(tmp_path)
    out = tmp_path / "rep"
    assert main(["report", str(store), "--out", str(out), "--metrics", "m01,bogus"]) == 2
    err = _error_line(capsys)
    assert "metrics: unknown metric 'bogus'" in err
    assert "m00, m01" in err and "p_overflow" in err
    assert not list(out.glob("*.png"))


def test_report_plots_an_all_zero_metric_when_asked_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = _many_metrics_store(tmp_path)
    files = report(store, tmp_path / "rep", metrics=["p_overflow"])
    assert [f.name for f in files if f.suffix == ".png"] == ["fpentropy_entropy_p_overflow.png"]
    capsys.readouterr()


# --------------------------------------------------------------------------- f. truth-limited cells


def test_a_truth_limited_speedup_is_printed_as_a_bound(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [
        _row(
            "mlp.compare",
            {"width": w, "depth": 2},
            0,
            {
                "speedup[cov_prop]": 12.3 * w,
                "truth_limited[cov_prop]": w == 64,
                "speedup[mean_prop]": 5.0 * w,
                "truth_limited[mean_prop]": False,
            },
        )
        for w in (32, 64)
    ]
    store = _store(tmp_path, rows)
    assert main(["report", str(store), "--out", str(tmp_path / "rep"), "--metrics", "speedup[cov_prop],speedup[mean_prop]"]) == 0
    text = capsys.readouterr().out
    body = {ln.split()[0]: ln for ln in text.splitlines() if ln.strip().startswith(("32 ", "64 "))}
    assert "≥ 787.2" in body["64"] and "787.2" not in body["64"].replace("≥ 787.2", "")
    assert "≥" not in body["32"] and "393.6" in body["32"]
    assert "320" in body["64"] and "≥ 320" not in body["64"]  # mean_prop at width 64 was measured
    assert "lower bound" in text


def test_the_mlp_compare_job_prints_bounds_for_truth_limited_cells(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a tiny truth (1000 samples) cannot resolve cov_prop's error on a wide net: truth-limited
    job = tmp_path / "job.toml"
    job.write_text(
        'type = "mlp.compare"\n[params]\nwidths = [16]\ndepths = [2]\nmethods = ["mean_prop", "cov_prop"]\ntruth_samples = 1000\n'
    )
    assert main(["run", str(job), "--out", str(tmp_path / "o"), "--no-progress"]) == 0
    text = capsys.readouterr().out
    table = _read_csv(tmp_path / "o" / "mlp_compare.csv")
    limited = {r[4]: r[8] == "True" for r in table[1:]}
    assert any(limited.values()), "expected a truth-limited cell with 1000 truth samples"
    for line in text.splitlines():
        for method, lim in limited.items():
            if f" {method} " in line:
                assert ("≥" in line) == lim, line


@pytest.mark.parametrize("where", ["below_a_file", "a_folder"])
def test_sweep_store_that_cannot_be_written(where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "a_file"
    f.write_text("x")
    store = f / "s.sqlite" if where == "below_a_file" else tmp_path
    assert main(["sweep", str(SWEEP_FILES[0]), "--store", str(store), "--no-progress"]) == 2
    err = _error_line(capsys)
    assert err.startswith("boltzkit: error: store: cannot create or write")
