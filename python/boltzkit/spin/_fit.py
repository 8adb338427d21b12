"""Fitting Ising models to samples: minimum probability flow, pseudolikelihood, exact ML."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from boltzkit import _core
from boltzkit._progress import want_progress
from boltzkit._threads import resolve_threads
from boltzkit._validate import as_bool, as_float, check_bytes, check_steps
from boltzkit.errors import ComputationError, InvalidArgumentError, InvalidTypeError
from boltzkit.spin._model import ENUMERATE_MAX_N, SpinModel, _posint, _seed

__all__ = [
    "FitObjective",
    "FitResult",
    "SpinEncoding",
    "coupling_rmse",
    "fit_exact_ml",
    "fit_mpf",
    "fit_pseudolikelihood",
    "mpf_objective",
]

F64 = npt.NDArray[np.float64]
#: ``objective=`` of :func:`mpf_objective`: minimum probability flow or negative log-pseudolikelihood.
FitObjective = Literal["mpf", "pl"]
#: ``spins=``: how the data encode a spin, ``±1`` or ``0/1``.
SpinEncoding = Literal["pm1", "01"]


@dataclass(frozen=True)
class FitResult:
    """A fitted model and how the optimisation went.

    Attributes
    ----------
    model : SpinModel
        The fitted model in the canonical ±1 form (β = 1).
    objective : float
        Final objective value per sample (including the L2 penalty).
    n_iter, n_eval : int
        L-BFGS iterations and objective evaluations.
    converged : bool
        scipy's success flag.
    message : str
        scipy's message.
    seconds : float
        Wall time.
    method : str
        ``"mpf"``, ``"mpf01"``, ``"pl"`` or ``"ml"``.
    """

    model: SpinModel
    objective: float
    n_iter: int
    n_eval: int
    converged: bool
    message: str
    seconds: float
    method: str


def _data(data: npt.ArrayLike, spins: str) -> npt.NDArray[np.int8]:
    try:
        a = np.asarray(data)
    except (TypeError, ValueError):
        raise InvalidTypeError("data: expected a 2-d array of spins") from None
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
        raise InvalidTypeError(f"data: expected a numeric array, got dtype {a.dtype}")
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise InvalidArgumentError(f"data: expected shape (n_samples, n) with both > 0, got {a.shape}")
    if spins == "pm1":
        if not np.all((a == 1) | (a == -1)):
            raise InvalidArgumentError("data: spins must be -1 or +1 (use spins='01' for {0, 1} data)")
        return np.ascontiguousarray(a, dtype=np.int8)
    if spins == "01":
        if not np.all((a == 0) | (a == 1)):
            raise InvalidArgumentError("data: with spins='01' values must be 0 or 1")
        return np.ascontiguousarray(2 * a.astype(np.int8) - 1, dtype=np.int8)
    raise InvalidArgumentError(f"spins: expected 'pm1' or '01', got {spins!r}")


def _l2(l2: float) -> float:
    return as_float("l2", l2, 0.0, 1e100)


def _check_fit_size(s: npt.NDArray[np.int8], maxiter: object) -> None:
    k, n = s.shape
    mi = _posint("maxiter", maxiter, 1, 10**7)
    check_bytes("data", 64.0 * n * n + 16.0 * k * n, f"a fit of {n} spins")
    check_steps("maxiter", 20 * mi * k * n * n, f"{mi} L-BFGS iterations on {k} samples of {n} spins")


def _init(n: int, init: SpinModel | None, seed: int) -> tuple[F64, F64]:
    if init is not None:
        if not isinstance(init, SpinModel) or init.n != n:
            raise InvalidArgumentError(f"init: expected a SpinModel with n = {n}")
        return init.J.copy(), init.h.copy()
    rng = np.random.default_rng(_seed(seed))
    a = rng.standard_normal((n, n)) * math.sqrt(1e-4 / n)
    j = np.triu(a, 1)
    return j + j.T, np.zeros(n)


def mpf_objective(
    data: npt.ArrayLike,
    model: SpinModel,
    *,
    objective: FitObjective = "mpf",
    threads: int | None = None,
) -> tuple[float, F64, F64]:
    """The MPF (or negative log-pseudolikelihood) objective of ±1 ``data`` at ``model`` (β = 1).

    ``K = (1/B) Σ_x Σ_n exp(−s_n φ_n(s))`` (MPF, single-flip connectivity, every neighbour
    counted even when it is a data state) or ``(1/B) Σ_x Σ_n ln(1 + exp(−2 s_n φ_n))`` (PL).

    Returns
    -------
    value : float
    grad_J : ndarray of shape (n, n)
        Derivative with respect to the symmetric parameter ``J_ij = J_ji`` (``i ≠ j``).
    grad_h : ndarray of shape (n,)
    """
    s = _data(data, "pm1")
    _check_fit_size(s, 1)
    if not isinstance(model, SpinModel):
        raise InvalidTypeError(f"model: expected a SpinModel, got {type(model).__name__}")
    if objective not in ("mpf", "pl"):
        raise InvalidArgumentError(f"objective: expected 'mpf' or 'pl', got {objective!r}")
    if s.shape[1] != model.n:
        raise InvalidArgumentError(f"data: expected {model.n} columns, got {s.shape[1]}")
    v, gj, gh = _core.spin_fit_objective(s, model.J, model.h, objective, resolve_threads(threads))
    if not (math.isfinite(float(v)) and np.all(np.isfinite(gj)) and np.all(np.isfinite(gh))):
        raise ComputationError(
            f"{objective}: the objective overflows at this model (exp of energy differences up to "
            f"{2 * float(np.abs(model.J).sum(axis=1).max() + np.abs(model.h).max()):.3g}); rescale the couplings"
        )
    return float(v), gj, gh


def _minimise(fun: Any, x0: F64, maxiter: int, gtol: float, progress: bool | None = None, desc: str = "") -> Any:
    """L-BFGS-B, with a bar over iterations (up to ``maxiter``) when :func:`want_progress`."""
    from scipy.optimize import minimize

    opts: Any = {"maxiter": maxiter, "gtol": gtol, "ftol": 1e-15}
    if not want_progress(as_bool("progress", progress) if progress is not None else None):
        return minimize(fun, x0, jac=True, method="L-BFGS-B", options=opts)
    from boltzkit._progress import bar

    with bar(maxiter, desc) as b:

        def step(_: F64) -> None:
            b.update(1)

        cb: Any = step  # scipy-stubs' callback protocol is narrower than what minimize accepts
        return minimize(fun, x0, jac=True, method="L-BFGS-B", options=opts, callback=cb)


def fit_mpf(
    data: npt.ArrayLike,
    *,
    spins: SpinEncoding = "pm1",
    all_flip: bool = False,
    l2: float = 0.0,
    init: SpinModel | None = None,
    maxiter: int = 2000,
    gtol: float = 1e-7,
    seed: int = 0,
    threads: int | None = None,
    progress: bool | None = None,
) -> FitResult:
    """Fit couplings and fields by minimum probability flow (L-BFGS on the analytic gradient).

    Parameters
    ----------
    data : array_like of shape (n_samples, n)
        Samples: ±1 spins (``spins="pm1"``) or ``{0, 1}`` units (``spins="01"``).
    spins : {"pm1", "01"}
        ``"pm1"`` minimises ``K`` in the ±1 parametrisation ``(J, h)``; ``"01"`` minimises the
        reference code's ``{0,1}`` objective over ``W`` (``E = xᵀWx``, biases on the diagonal);
        both return the model in the canonical ±1 form (the two are the same family, and the
        objectives agree exactly after conversion).
    all_flip : bool
        ``{0,1}`` mode only: add the ``x ↔ 1 − x`` connection (helps sparse data).
    l2 : float
        Penalty ``l2 · Σ_{i<j} J_ij²`` (``W_ij²`` off the diagonal in ``"01"`` mode).
    init : SpinModel, optional
        Start (default ``J ~ N(0, 1e-4/n)`` symmetrised, ``h = 0``).
    maxiter, gtol : int, float
        L-BFGS-B limits.
    progress : bool, optional
        A bar over L-BFGS iterations (default: when stderr is a terminal).

    Returns
    -------
    FitResult
    """
    lam = _l2(l2)
    all_flip = as_bool("all_flip", all_flip)
    s = _data(data, spins)
    n = s.shape[1]
    _check_fit_size(s, maxiter)
    th = resolve_threads(threads)
    j0, h0 = _init(n, init, seed)
    t0 = time.perf_counter()
    if spins == "pm1":
        if all_flip:
            raise InvalidArgumentError("all_flip: only defined for spins='01'")
        iu = np.triu_indices(n, 1)

        def fun(x: F64) -> tuple[float, F64]:
            j = np.zeros((n, n))
            j[iu] = x[: iu[0].size]
            j = j + j.T
            v, gj, gh = _core.spin_fit_objective(s, j, np.ascontiguousarray(x[iu[0].size :]), "mpf", th)
            g = np.concatenate([gj[iu] + 2 * lam * j[iu], gh])
            return v + lam * float((j[iu] ** 2).sum()), g

        r = _minimise(fun, np.concatenate([j0[iu], h0]), _posint("maxiter", maxiter, 1, 10**7), as_float("gtol", gtol, 0.0),
                      progress, "fit_mpf")  # fmt: skip
        jf = np.zeros((n, n))
        jf[iu] = r.x[: iu[0].size]
        model = SpinModel(jf + jf.T, r.x[iu[0].size :])
        method = "mpf"
    else:
        iu0 = np.triu_indices(n)
        off = iu0[0] != iu0[1]
        w0, _ = SpinModel(j0, h0).to_mpf_form()

        def fun(x: F64) -> tuple[float, F64]:
            w = np.zeros((n, n))
            w[iu0] = x
            w = w + np.triu(w, 1).T
            v, gw = _core.spin_fit_objective01(s, w, all_flip, th)
            g = gw[iu0] + 2 * lam * np.where(off, x, 0.0)
            return v + lam * float((x[off] ** 2).sum()), g

        r = _minimise(fun, w0[iu0], _posint("maxiter", maxiter, 1, 10**7), as_float("gtol", gtol, 0.0), progress, "fit_mpf")
        w = np.zeros((n, n))
        w[iu0] = r.x
        w = w + np.triu(w, 1).T
        model = SpinModel.from_mpf_form(w)
        model.offset = 0.0
        method = "mpf01"
    return FitResult(model, float(r.fun), int(r.nit), int(r.nfev), bool(r.success), str(r.message),
                     time.perf_counter() - t0, method)  # fmt: skip


def fit_pseudolikelihood(
    data: npt.ArrayLike,
    *,
    l2: float = 0.0,
    init: SpinModel | None = None,
    maxiter: int = 2000,
    gtol: float = 1e-7,
    seed: int = 0,
    threads: int | None = None,
    progress: bool | None = None,
) -> FitResult:
    """Fit by maximum pseudolikelihood (symmetric couplings, joint L-BFGS over all conditionals).

    Minimises ``(1/B) Σ_x Σ_n ln(1 + exp(−2 s_n φ_n(s))) + l2 Σ_{i<j} J_ij²``; parameters and
    return value as :func:`fit_mpf` (``data`` in ±1).
    """
    lam = _l2(l2)
    s = _data(data, "pm1")
    _check_fit_size(s, maxiter)
    n = s.shape[1]
    th = resolve_threads(threads)
    j0, h0 = _init(n, init, seed)
    iu = np.triu_indices(n, 1)
    t0 = time.perf_counter()

    def fun(x: F64) -> tuple[float, F64]:
        j = np.zeros((n, n))
        j[iu] = x[: iu[0].size]
        j = j + j.T
        v, gj, gh = _core.spin_fit_objective(s, j, np.ascontiguousarray(x[iu[0].size :]), "pl", th)
        return v + lam * float((j[iu] ** 2).sum()), np.concatenate([gj[iu] + 2 * lam * j[iu], gh])

    r = _minimise(fun, np.concatenate([j0[iu], h0]), _posint("maxiter", maxiter, 1, 10**7), as_float("gtol", gtol, 0.0),
                  progress, "fit_pseudolikelihood")  # fmt: skip
    jf = np.zeros((n, n))
    jf[iu] = r.x[: iu[0].size]
    return FitResult(SpinModel(jf + jf.T, r.x[iu[0].size :]), float(r.fun), int(r.nit), int(r.nfev), bool(r.success),
                     str(r.message), time.perf_counter() - t0, "pl")  # fmt: skip


def fit_exact_ml(
    data: npt.ArrayLike,
    *,
    l2: float = 0.0,
    init: SpinModel | None = None,
    maxiter: int = 500,
    gtol: float = 1e-7,
    threads: int | None = None,
) -> FitResult:
    """Maximum-likelihood fit with the exact gradient from enumeration (``n ≤ 20``).

    Minimises ``mean_data E(s) + ln Z`` (the negative log-likelihood per sample); its gradient
    is ``⟨s_i s_j⟩_model − ⟨s_i s_j⟩_data`` (and the same for ``h``).
    """
    lam = _l2(l2)
    s = _data(data, "pm1")
    _check_fit_size(s, maxiter)
    s = s.astype(np.float64)
    b, n = s.shape
    if n > min(20, ENUMERATE_MAX_N):
        raise InvalidArgumentError(f"data: exact ML needs n <= 20 spins, got {n}")
    cd = s.T @ s / b
    md = s.mean(axis=0)
    iu = np.triu_indices(n, 1)
    j0, h0 = _init(n, init, 0)
    t0 = time.perf_counter()

    def fun(x: F64) -> tuple[float, F64]:
        j = np.zeros((n, n))
        j[iu] = x[: iu[0].size]
        j = j + j.T
        h = x[iu[0].size :]
        e = SpinModel(j, h).enumerate_exact([1.0], correlations=True, threads=threads)
        val = -float((j[iu] * cd[iu]).sum()) - float(h @ md) + float(e.ln_z[0])
        gj = e.corr[0][iu] - cd[iu]
        gh = e.mean_s[0] - md
        return val + lam * float((j[iu] ** 2).sum()), np.concatenate([gj + 2 * lam * j[iu], gh])

    r = _minimise(fun, np.concatenate([j0[iu], h0]), _posint("maxiter", maxiter, 1, 10**7), as_float("gtol", gtol, 0.0))
    jf = np.zeros((n, n))
    jf[iu] = r.x[: iu[0].size]
    return FitResult(SpinModel(jf + jf.T, r.x[iu[0].size :]), float(r.fun), int(r.nit), int(r.nfev), bool(r.success),
                     str(r.message), time.perf_counter() - t0, "ml")  # fmt: skip


def coupling_rmse(model: SpinModel, truth: SpinModel) -> float:
    """Root-mean-square difference of the couplings ``J_ij`` (``i < j``) of two models."""
    for name, m in (("model", model), ("truth", truth)):
        if not isinstance(m, SpinModel):
            raise InvalidTypeError(f"{name}: expected a SpinModel, got {type(m).__name__}")
    if model.n != truth.n:
        raise InvalidArgumentError(f"truth: expected n = {model.n}, got {truth.n}")
    if model.n < 2:
        return 0.0
    iu = np.triu_indices(model.n, 1)
    return float(np.sqrt(np.mean((model.J[iu] - truth.J[iu]) ** 2)))
