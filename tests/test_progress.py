"""progress= on long calls: a bar on request (never when not asked or not on a terminal), same results."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from boltzkit import InvalidTypeError
from boltzkit import spin as sp
from boltzkit.spin import phase

_M = sp.sk(10, seed=0)
_DATA = _M.tempering([1.0], 200, record_states=True).states.reshape(-1, 10)


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("fit_mpf", lambda p: sp.fit_mpf(_DATA, maxiter=30, progress=p).model.J),
        ("fit_pseudolikelihood", lambda p: sp.fit_pseudolikelihood(_DATA, maxiter=30, progress=p).model.J),
        ("TAP Hessian scan", lambda p: phase.tap_hessian_scan(_M, np.geomspace(0.3, 3, 6), progress=p).lambda_min),
    ],
)
def test_progress_bar_on_request_only(name: str, call: object) -> None:
    runs = {}
    for p in (True, False, None):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            runs[p] = call(p)  # type: ignore[operator]
        # stderr here is not a terminal: the default (None) shows nothing
        assert (name in err.getvalue()) == (p is True), (p, err.getvalue()[:200])
    assert np.array_equal(runs[True], runs[False]) and np.array_equal(runs[True], runs[None])


def test_progress_must_be_a_bool() -> None:
    with pytest.raises(InvalidTypeError, match=r"^progress: "):
        sp.fit_mpf(_DATA, maxiter=5, progress="yes")  # type: ignore[arg-type]
