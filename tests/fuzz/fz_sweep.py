"""Fuzz entries of TOML sweeps and jobs: load_sweep / load_job on drawn TOML texts."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import strategies as st

from boltzkit.jobs import load_job
from boltzkit.sweep import MAX_SWEEP_TASKS, SweepJob, expand, load_sweep
from fuzz._harness import Call, Entry

_GRID_FORMATS = ['["float16", "float8_e5m2"]', '["float99"]', "[]", "1"]
_JOB_FORMATS = ['["float8_e4m3fn"]', '["float99"]', "[]", "[1]", '"float16"']
_JOB_DISTS = ['[{ law = "norm" }]', '[{ law = "t" }]', '[{ law = "norm", scale = -1 }]', "[1]", "[]"]

_VALUES = [
    "1",
    "0",
    "-1",
    "2147483648",
    "9223372036854775807",
    "1e308",
    "nan",
    "inf",
    "-inf",
    "true",
    '"x"',
    "[]",
    "[1, 2]",
    "[3, 1, 2]",
    "[1, 1]",
    '["a"]',
    "{}",
    "{ uniform = [0, 1] }",
    "{ uniform = [1, 0] }",
    "{ loguniform = [1e-3, 10] }",
    "{ loguniform = [0, 1] }",
    "{ normal = [0, -1] }",
    "{ normal = [nan, 1] }",
    "{ choice = [] }",
    "{ choice = [1, 2] }",
    "1.5",
]


def _value() -> st.SearchStrategy[str]:
    good = st.sampled_from(["1.0", "0.5", "2", "[0.5, 1.0]", "{ uniform = [0.5, 2] }"])
    return st.one_of(good, good, good, st.sampled_from(_VALUES), st.integers(-(2**70), 2**70).map(str))


@st.composite
def _sweep_text(draw: st.DrawFn) -> str:
    task = draw(st.sampled_from(["fpentropy.entropy"] * 6 + ["fpentropy.empirical", "fpentropy.scale_curve", "nope", "1"]))
    lines = ['type = "sweep"', f'task = "{task}"' if not task.isdigit() else f"task = {task}"]
    for key in draw(
        st.lists(st.sampled_from(["seeds", "threads_per_task", "batch_size", "name", "bogus"]), max_size=2, unique=True)
    ):
        lines.append(f"{key} = {draw(_value())}")
    lines += ["[base]", 'format = "float8_e4m3fn"', "approx = false", "[base.dist]", 'law = "norm"']
    if draw(st.booleans()):
        lines.append(f"scale = {draw(_value())}")
    if draw(st.booleans()):
        lines.append("[grid]")
        for key in draw(
            st.lists(st.sampled_from(["format", "dist.scale", "n", "merge_zero", "log2_min"]), max_size=3, unique=True)
        ):
            if key == "format":
                lines.append(f'"{key}" = {draw(st.sampled_from(_GRID_FORMATS))}')
            else:
                lines.append(f'"{key}" = {draw(_value())}')
    if draw(st.booleans()):
        lines.append("[random]")
        lines.append(f"n = {draw(st.one_of(st.integers(0, 4).map(str), _value()))}")
        if draw(st.booleans()):
            lines.append(f"seed = {draw(_value())}")
        lines.append(f'"dist.loc" = {draw(_value())}')
    if draw(st.integers(0, 19)) == 0:
        return "\n".join(lines)[: draw(st.integers(0, 60))] + draw(st.sampled_from(["", "= =", "[[", "\x00"]))
    return "\n".join(lines) + "\n"


@st.composite
def _job_text(draw: st.DrawFn) -> str:
    jtype = draw(st.sampled_from(["fpentropy.entropy", "fpentropy.empirical", "fpentropy.scale_sweep", "nope"]))
    lines = [f'type = "{jtype}"']
    if draw(st.booleans()):
        lines.append(f"threads = {draw(_value())}")
    lines.append("[params]")
    for key in draw(
        st.lists(
            st.sampled_from(["formats", "dists", "n", "seed", "log2_min", "log2_max", "merge_zero", "bogus"]),
            max_size=4,
            unique=True,
        )
    ):
        if key == "formats":
            lines.append(f"formats = {draw(st.sampled_from(_JOB_FORMATS))}")
        elif key == "dists":
            lines.append(f"dists = {draw(st.sampled_from(_JOB_DISTS))}")
        else:
            lines.append(f"{key} = {draw(_value())}")
    return "\n".join(lines) + "\n"


def _load(kind: str, text: str) -> Call:
    def fn() -> object:
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / f"{kind}.toml"
            p.write_text(text)
            if kind == "sweep":
                job = load_sweep(p)
                return len(expand(job)), job
            return load_job(p)

    def check(out: object) -> None:
        if kind == "sweep":
            assert isinstance(out, tuple)
            n, job = out
            assert isinstance(job, SweepJob) and 1 <= n <= MAX_SWEEP_TASKS, n

    return Call(fn, f"load_{kind}({text!r})", check, timeout=30.0)


ENTRIES: list[Entry] = [
    Entry("sweep.load_sweep", _sweep_text().map(lambda t: _load("sweep", t))),
    Entry("jobs.load_job", _job_text().map(lambda t: _load("job", t))),
]
