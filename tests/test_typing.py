"""The public API's types: a typed user program passes ``mypy --strict``, and misspelled option
names are type errors (issue 17 point 6). mypy runs in-process with its cache in ``tmp_path``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "typed_downstream.py"

# one misspelled option per module and per alias: (the call, the argument mypy must name)
MISSPELLED = [
    ('spin.sk(8).anneal(2, 10, schedule="geometrc")', "schedule"),
    ('spin.sk(8).anneal(2, 10, proposal="gibbs")', "proposal"),
    ('spin.sk(8).anneal(2, 10, order="randm")', "order"),
    ('spin.sk(8).to_bqm("SPINS")', "vartype"),
    ('spin.sk(8).tap(1.0, init="hot")', "init"),
    ('spin.beta_schedule((0.1, 1.0), 10, "linaer")', "schedule"),
    ('hmc.sample(hmc.GaussianAniso(), method="hcm")', "method"),
    ('hmc.sample(hmc.GaussianAniso(), metric="full")', "metric"),
    ('hmc.sample(hmc.GaussianAniso(), x0="exat")', "x0"),
    ('mlp.random_mlp([2, 3, 1], act="rleu")', "act"),
    ('mlp.random_mlp([2, 3, 1], init="xavier")', "init"),
    ('mlp.random_mlp([2, 3, 1]).estimate("kpop")', "method"),
    ('mlp.random_mlp([2, 3, 1]).tail_probability(method="gaus")', "method"),
    ('fp.entropy(stats.norm(), "float8_e4m3")', None),  # a valid name: no error expected
    ('fp.entropy(stats.norm(), "flaot16")', "fmt"),
    ('fp.entropy(stats.norm(), "float16", method="enum")', "method"),
    ('fp.entropy(stats.norm, "float16")', "dist"),
    ('fp.FloatFormat(4, 3, overflow="nans")', "overflow"),
]

HEADER = """\
from scipy import stats

from boltzkit import fpentropy as fp
from boltzkit import hmc, mlp, spin

"""


@pytest.fixture(scope="module")
def mypy_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int, int]:
    """One in-process ``mypy --strict`` run over the example and the snippet (output, status,
    first snippet line): the analysis of numpy / scipy / xarray is shared between the two."""
    tmp = tmp_path_factory.mktemp("typing")
    snippet = tmp / "user_code.py"
    snippet.write_text(HEADER + "".join(f"{call}\n" for call, _ in MISSPELLED))
    stdout, stderr, status = mypy_api.run(
        [
            "--strict",
            "--cache-dir",
            str(tmp / ".mypy_cache"),
            "--no-error-summary",
            "--show-error-codes",
            str(EXAMPLE),
            str(snippet),
        ]
    )
    return stdout + stderr, status, HEADER.count("\n") + 1


def test_typed_downstream_program_passes_strict_mypy(mypy_report: tuple[str, int, int]) -> None:
    out, status, _ = mypy_report
    assert status in (0, 1), out  # 2: mypy itself failed
    assert EXAMPLE.name not in out, out


def test_misspelled_options_are_type_errors(mypy_report: tuple[str, int, int]) -> None:
    out, status, first = mypy_report
    assert status == 1, out
    errors: dict[int, str] = {}
    for line in out.splitlines():
        m = re.match(r".*user_code\.py:(\d+): error: (.*)", line)
        if m:
            errors[int(m.group(1))] = errors.get(int(m.group(1)), "") + m.group(2)
    for i, (call, arg) in enumerate(MISSPELLED):
        msg = errors.get(first + i)
        if arg is None:
            assert msg is None, f"{call}: unexpected error {msg}"
            continue
        assert msg is not None, f"{call}: mypy accepted a misspelled {arg}\n{out}"
        assert "[arg-type]" in msg, f"{call}: {msg}"
    assert set(errors) <= {first + i for i in range(len(MISSPELLED))}, out
