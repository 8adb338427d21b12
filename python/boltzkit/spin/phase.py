"""Phase analysis of spin models of networks: T_c from theory, from J∘J, from the TAP Hessian;
bond spectrum; hidden-order overlap; power-law fits of T_c against training time.

Spin-glass temperature of a layered SK model (spec §4): ``T_c² = λ_max(M)`` for the
``(L+1) × (L+1)`` symmetric tridiagonal ``M`` with off-diagonals ``√(N_l N_{l+1}) v_l``; for any
``J``, ``T_c ≈ √λ_Perron(J∘J)`` (:func:`tc_glass`). The paramagnetic TAP Hessian
``A(T) = diag(1 + d_i/T²) − J/T`` (``d_i = Σ_j J_ij²``) loses stability at the glass transition
(its smallest eigenvalue only touches 0) or, for couplings with a large outlier eigenvalue
``λ_out`` (trained networks), crosses 0 at ``T_hidden = (λ_out + √(λ_out² − 4 d̄))/2``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from boltzkit import _core
from boltzkit._progress import track
from boltzkit._threads import resolve_threads
from boltzkit._validate import as_bool, as_float, as_int, check_bytes, check_steps
from boltzkit.errors import ComputationError, InvalidArgumentError, InvalidTypeError
from boltzkit.spin._model import SpinModel, _finite_array, _temps

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "BondSpectrum",
    "HessianForm",
    "HessianScan",
    "HiddenOrderTest",
    "PowerLawFit",
    "bond_spectrum",
    "fit_power_law",
    "hidden_order",
    "hidden_order_test",
    "t_hidden_formula",
    "tap_hessian",
    "tap_hessian_scan",
    "tc_glass",
    "tc_layered_theory",
]

F64 = npt.NDArray[np.float64]


def _as_model(model: SpinModel | npt.ArrayLike) -> SpinModel:
    if isinstance(model, SpinModel):
        return model
    try:
        return SpinModel(model)
    except (InvalidArgumentError, InvalidTypeError) as e:
        raise type(e)(f"model: {e}") from None


def tc_layered_theory(widths: Sequence[int], variances: float | Sequence[float]) -> float:
    """Spin-glass temperature of a layered SK model from its widths and weight variances.

    ``T_c² = λ_max`` of the symmetric tridiagonal matrix with zero diagonal and off-diagonals
    ``√(N_l N_{l+1}) v_l``. For equal widths ``N`` and variance ``v`` (``C = N v``, ``L``
    matrices) this is ``√(2C cos(π/(L+2)))``; ``L = 1`` gives ``√C``.

    Parameters
    ----------
    widths : sequence of int
        ``N_0 … N_L``.
    variances : float or sequence of float
        Entry variance of each weight matrix.

    Returns
    -------
    float
    """
    from scipy.linalg import eigvalsh_tridiagonal

    if isinstance(widths, (str, bytes)) or not isinstance(widths, (Sequence, np.ndarray)):
        raise InvalidTypeError(f"widths: expected a list of ints, got {type(widths).__name__}")
    w = [as_int(f"widths[{k}]", x, 1) for k, x in enumerate(widths)]
    if len(w) < 2:
        raise InvalidArgumentError(f"widths: need at least two positive widths, got {list(widths)}")
    if len(w) > 1_000_000:
        raise InvalidArgumentError(f"widths: must have at most 1000000 layers, got {len(w)}")
    vmax = 1e100
    if isinstance(variances, (str, bytes)) or not (np.isscalar(variances) or isinstance(variances, (Sequence, np.ndarray))):
        raise InvalidTypeError(f"variances: expected a float or a list of floats, got {type(variances).__name__}")
    if np.isscalar(variances):
        v = [as_float("variances", variances, 0.0, vmax)] * (len(w) - 1)
    else:
        v = [as_float("variances", x, 0.0, vmax) for x in variances]  # type: ignore[union-attr]
    if len(v) != len(w) - 1:
        raise InvalidArgumentError(f"variances: expected {len(w) - 1} finite values >= 0, got {len(v)}")
    off = np.array([math.sqrt(w[k] * w[k + 1]) * v[k] for k in range(len(v))])
    scale = float(off.max()) if off.size else 0.0
    if not (math.isfinite(scale) and scale > 0):
        return 0.0 if scale == 0 else _raise_nonfinite("tc_layered_theory")
    lam = float(eigvalsh_tridiagonal(np.zeros(len(w)), off / scale)[-1])
    tc = math.sqrt(max(lam, 0.0) * scale)
    return tc if math.isfinite(tc) else _raise_nonfinite("tc_layered_theory")


def _raise_nonfinite(what: str) -> float:
    raise ComputationError(f"{what}: the result is not a finite number")


def tc_glass(
    model: SpinModel | npt.ArrayLike, *, tol: float = 1e-10, max_iter: int = 100_000, threads: int | None = None
) -> float:
    """``√λ_Perron(J∘J)``: the spin-glass temperature estimate of arbitrary couplings.

    Power iteration in the Rust core on the nonnegative matrix ``J∘J`` (dense, sparse or
    layered storage; never densified), shifted to converge on bipartite (layered) matrices.
    """
    m = _as_model(model)
    tol = as_float("tol", tol, 0.0, 1.0, lo_open=True)
    mi = as_int("max_iter", max_iter, 1)
    check_steps("max_iter", mi * m._nnz(), f"{mi} power iterations on {m._nnz()} couplings")
    # Scale-aware: T_c is homogeneous of degree 1 in J; iterate on J/scale (a power of two, exact)
    # so that J∘J and its norms neither overflow (1e100 and up) nor underflow, and multiply back.
    scale = m._coupling_scale(fields=False)
    if scale == 0:
        return 0.0
    spec = m._spec() if scale == 1.0 else m._scaled_spec(scale)
    lam, _, _ = _core.spin_perron_hadamard(spec, tol, mi, resolve_threads(threads))
    tc = math.sqrt(max(float(lam), 0.0)) * scale
    if not (math.isfinite(tc) and tc > 0):
        raise ComputationError(f"tc_glass: the power iteration gave λ = {float(lam)!r}, not a positive finite number")
    return tc


def tap_hessian(model: SpinModel | npt.ArrayLike, m: npt.ArrayLike, T: float) -> F64:
    """Hessian of ``β F_TAP`` at magnetisations ``m`` (shape (n, n)).

    ``H_ii = 1/(1 − m_i²) + β² Σ_k J_ik²(1 − m_k²)``, ``H_ij = −β J_ij − 2β² J_ij² m_i m_j``; at
    ``m = 0`` this is ``A(T) = diag(1 + d_i/T²) − J/T``.
    """
    mod = _as_model(model)
    mv = _finite_array("m", m, 1)
    if mv.shape != (mod.n,) or np.any(np.abs(mv) >= 1):
        raise InvalidArgumentError(f"m: expected shape ({mod.n},) with |m_i| < 1")
    beta = 1.0 / float(_check_t_scale(mod, _temps("T", T))[0])
    check_bytes("model", 32.0 * mod.n * mod.n, f"the dense Hessian of {mod.n} spins")
    j = mod.J
    j2 = j**2
    u = 1 - mv**2
    hm = -beta * j - 2 * beta**2 * j2 * np.outer(mv, mv)
    hm[np.diag_indices(mod.n)] = 1 / u + beta**2 * (j2 @ u)
    return np.asarray(hm, dtype=np.float64)


def _check_t_scale(mod: SpinModel, t: F64) -> F64:
    """Temperatures within 1e±100 of the coupling scale (β²J² and T² stay finite)."""
    scale = mod._coupling_scale() or 1.0
    r = t / scale
    if not np.all((r >= 1e-100) & (r <= 1e100)):
        raise InvalidArgumentError(
            f"T: every temperature must be between {1e-100 * scale:g} and {1e100 * scale:g} for couplings of scale "
            f"{scale:g}, got {float(t.min()):g} … {float(t.max()):g}"
        )
    return t


def t_hidden_formula(model: SpinModel | npt.ArrayLike) -> float:
    """``(λ_out + √(λ_out² − 4 d̄))/2`` with ``λ_out`` the top eigenvalue of ``J`` and
    ``d̄ = mean_i Σ_j J_ij²``; ``nan`` when ``λ_out² < 4 d̄`` (no outlier beyond the bulk)."""
    mod = _as_model(model)
    lam = _extreme_eig(mod, largest=True)
    d = float(np.mean(_row_sq(mod)))
    disc = lam * lam - 4 * d
    return (lam + math.sqrt(disc)) / 2 if disc >= 0 else float("nan")


def _row_sq(mod: SpinModel) -> F64:
    if mod.storage == "dense":
        return np.asarray((mod.J**2).sum(axis=1), dtype=np.float64)
    c = mod.to_csr()
    return np.asarray(c.multiply(c).sum(axis=1), dtype=np.float64).ravel()


def _extreme_eig(mod: SpinModel, largest: bool) -> float:
    import scipy.linalg as sla
    import scipy.sparse.linalg as spla

    if mod.n <= 1500:
        k = mod.n - 1 if largest else 0
        return float(sla.eigh(mod.J, eigvals_only=True, subset_by_index=[k, k])[0])
    w = spla.eigsh(mod.to_csr(), k=1, which="LA" if largest else "SA", return_eigenvectors=False)
    return float(w[0])


HessianForm = Literal["T", "beta"]


@dataclass(frozen=True)
class HessianScan:
    """Result of :func:`tap_hessian_scan`.

    Attributes
    ----------
    T : ndarray of shape (n_T,)
        Temperature grid (ascending).
    lambda_min : ndarray of shape (n_T,)
        Smallest eigenvalue of ``T·A(T)`` (``form="T"``) or of ``A(T)`` (``form="beta"``).
    T_glass : float
        Temperature where ``λ_min`` is smallest (the glass criterion): the grid argmin, refined by
        Brent's bounded minimisation between its two grid neighbours (kept on the grid at an end).
    T_hidden : float
        Highest temperature where ``λ_min`` crosses zero, refined by bisection (``nan`` when it
        stays positive).
    hidden_vector : ndarray of shape (n,)
        Eigenvector of ``λ_min`` at ``T_hidden`` (zeros when there is no crossing).
    T_c : float
        ``max(T_glass, T_hidden)``.
    formula : float
        :func:`t_hidden_formula` of the same couplings, for comparison.
    form : {"T", "beta"}
        The form whose ``λ_min`` was minimised (see :func:`tap_hessian_scan`).
    """

    T: F64
    lambda_min: F64
    T_glass: float
    T_hidden: float
    hidden_vector: F64
    T_c: float
    formula: float
    form: HessianForm = "T"

    def plot(self, ax: Axes | None = None) -> Axes:
        """``λ_min(T)`` with the two criteria marked; ``ax``: matplotlib Axes (pyplot's current
        axes when None). Returns the axes."""
        from .._plot import axes_or_current

        ax = axes_or_current(ax)
        ax.plot(self.T, self.lambda_min, "o-", ms=3, label="λ_min of " + ("T·A(T)" if self.form == "T" else "A(T)"))
        ax.axhline(0, color="k", lw=0.6)
        ax.axvline(self.T_glass, color="C1", ls="--", label=f"T_glass ≈ {self.T_glass:.3f}")
        if math.isfinite(self.T_hidden):
            ax.axvline(self.T_hidden, color="C2", ls=":", label=f"T_hidden ≈ {self.T_hidden:.3f}")
        ax.set_xlabel("T")
        ax.set_ylabel("λ_min")
        ax.legend(fontsize=8)
        return ax


def _lambda_min(j: Any, d: F64, t: float, dense: bool) -> tuple[float, F64]:
    import scipy.linalg as sla
    import scipy.sparse as sps
    import scipy.sparse.linalg as spla

    if dense:
        a = -j / t
        a[np.diag_indices(len(d))] += 1 + d / t**2
        if len(d) <= 400:
            w, v = sla.eigh(a, subset_by_index=[0, 0])
            return float(w[0]), np.asarray(v[:, 0], dtype=np.float64)
        w, v = spla.eigsh(a, k=1, which="SA", tol=1e-12)
        return float(w[0]), np.asarray(v[:, 0], dtype=np.float64)
    a = sps.diags_array(1 + d / t**2) - j / t
    w, v = spla.eigsh(a, k=1, which="SA", tol=1e-10)
    return float(w[0]), np.asarray(v[:, 0], dtype=np.float64)


def tap_hessian_scan(
    model: SpinModel | npt.ArrayLike, T: npt.ArrayLike, *, form: HessianForm = "T", progress: bool | None = None
) -> HessianScan:
    """Smallest eigenvalue of the paramagnetic TAP Hessian ``A(T)`` on a temperature grid.

    Dense LAPACK (one eigenvalue) up to n = 400, Lanczos (ARPACK ``eigsh``) above (on the dense
    matrix up to n = 4000, on CSR beyond). The
    glass criterion is the argmin of ``λ_min(T)`` (for SK ``λ_min = (1 − 1/T)²`` touches 0 at
    T = 1); the hidden-order criterion is the upper zero crossing, refined by bisection.

    Parameters
    ----------
    model : SpinModel or array_like of shape (n, n)
    T : array_like of shape (n_T,)
        Temperatures (> 0); sorted ascending internally.
    form : {"T", "beta"}
        Which matrix's smallest eigenvalue is minimised over ``T`` for the glass criterion:
        ``"T"`` (default), ``T·A(T) = diag(T + d_i/T) − J``; ``"beta"``, ``A(T) = diag(1 + d_i/T²)
        − J/T`` itself. Both vanish together (same ``T_hidden``, same stability), and both have
        their minimum at ``T_c`` for N → ∞, but their finite-N bias differs: with equal row sums
        ``d`` the T-form's minimum sits at ``√d`` whatever the top eigenvalue of ``J``, while the
        β-form's sits at ``2d/λ_max(J)`` and inherits the O(N^-2/3) fluctuation of the spectral
        edge. On layered SK (N = 250 … 4000, benches/bench_spin_phase.py) the T-form's bias
        is the smaller (table in benches/RESULTS.md). ``lambda_min`` holds the chosen form's values.
    progress : bool, optional
        A bar over the temperatures (default: when stderr is a terminal).

    Returns
    -------
    HessianScan
    """
    from scipy.optimize import brentq

    mod = _as_model(model)
    if form not in ("T", "beta"):
        raise InvalidArgumentError(f"form: must be 'T' or 'beta', got {form!r}")
    t_form = form == "T"
    ts = np.sort(_temps("T", T))
    _check_t_scale(mod, ts)
    check_steps("T", ts.size * mod.n**3, f"{ts.size} eigenproblems of size {mod.n}", limit=10**13)
    check_bytes("model", 32.0 * mod.n * mod.n, f"dense Hessians of {mod.n} spins")
    dense = mod.n <= 4000
    # Scale-aware: A(T) is homogeneous of degree 0 in (J, T); far from unit scale, work on
    # (J, T)/sc (sc a power of two) so that T², J² and d/T² stay finite, and scale T back.
    sc = mod._coupling_scale(fields=False) or 1.0
    if 2.0**-20 <= sc <= 2.0**20:
        sc = 1.0
    j: Any = mod.J / sc if dense else mod.to_csr() / sc
    d = _row_sq(mod)
    if sc != 1.0:
        d = np.asarray((j**2).sum(axis=1) if dense else j.multiply(j).sum(axis=1), dtype=np.float64).ravel()
    t_user = ts
    ts = ts / sc
    lam = np.empty(ts.size)
    show = as_bool("progress", progress) if progress is not None else None
    for k, t in track(enumerate(ts), total=ts.size, desc="TAP Hessian scan", progress=show):
        lam[k] = _lambda_min(j, d, float(t), dense)[0]
    if t_form:
        lam *= ts  # λ_min(T·A(T)) = T·λ_min(A(T)) in the scaled units

    def crit(t: float) -> float:
        v = _lambda_min(j, d, float(t), dense)[0]
        return v * t if t_form else v

    kmin = int(np.argmin(lam))
    t_glass = float(ts[kmin])
    if 0 < kmin < ts.size - 1:
        # refine the argmin between its grid neighbours (so T_glass varies continuously with J)
        from scipy.optimize import minimize_scalar

        res = minimize_scalar(
            crit,
            bounds=(float(ts[kmin - 1]), float(ts[kmin + 1])),
            method="bounded",
            options={"xatol": 1e-7 * float(ts[kmin])},
        )
        if res.fun <= lam[kmin]:
            t_glass = float(res.x)
    t_hidden = float("nan")
    vec = np.zeros(mod.n)
    neg = np.nonzero(lam < 0)[0]
    if neg.size and neg[-1] + 1 < ts.size:
        k = int(neg[-1])
        t_hidden = float(brentq(lambda t: _lambda_min(j, d, t, dense)[0], ts[k], ts[k + 1], xtol=1e-10))
        vec = _lambda_min(j, d, t_hidden, dense)[1]
    elif neg.size:
        t_hidden = float(ts[-1])  # still unstable at the top of the grid: a lower bound
    t_glass, t_hidden = t_glass * sc, t_hidden * sc
    if t_form:
        lam *= sc
    t_c = max(t_glass, t_hidden) if math.isfinite(t_hidden) else t_glass
    return HessianScan(t_user, lam, t_glass, t_hidden, vec, t_c, t_hidden_formula(mod), form)


@dataclass(frozen=True)
class BondSpectrum:
    """Eigen-spectrum of the coupling matrix (:func:`bond_spectrum`).

    Attributes
    ----------
    eigenvalues : ndarray of shape (n,)
        Ascending.
    edge : float
        Bulk edge estimate ``2 √d̄`` (the semicircle edge for i.i.d. couplings of row-variance
        ``d̄``), or the ``edge`` argument.
    outliers : ndarray
        Eigenvalues with ``|λ| > edge`` (descending by ``|λ|``).
    top_vectors : ndarray of shape (n, k)
        Eigenvectors of the ``k`` largest eigenvalues.
    """

    eigenvalues: F64
    edge: float
    outliers: F64
    top_vectors: F64

    @property
    def n_outliers(self) -> int:
        """Number of eigenvalues beyond the bulk edge."""
        return int(self.outliers.size)

    def plot(self, ax: Axes | None = None, label: str | None = None, bins: int = 80) -> Axes:
        """Histogram of the eigenvalues with the bulk edge marked; ``ax``: matplotlib Axes
        (pyplot's current axes when None, so spectra can be overlaid), ``label``: legend entry,
        ``bins``: histogram bins (1 … 100000). Returns the axes."""
        from .._plot import axes_or_current

        if label is not None and not isinstance(label, str):
            raise InvalidTypeError(f"label: expected a str or None, got {type(label).__name__}")
        bins = as_int("bins", bins, 1, 100_000)
        ax = axes_or_current(ax)
        ax.hist(self.eigenvalues, bins=bins, density=True, histtype="step", label=label)
        for s in (-1, 1):
            ax.axvline(s * self.edge, color="gray", ls=":", lw=0.8)
        ax.set_xlabel("eigenvalue of J")
        ax.set_ylabel("density")
        return ax


def bond_spectrum(model: SpinModel | npt.ArrayLike, *, edge: float | None = None, k: int = 3) -> BondSpectrum:
    """All eigenvalues of ``J`` (dense LAPACK), the bulk edge, the outliers and top eigenvectors.

    For layered couplings the i.i.d. bulk is not a semicircle; the default edge ``2√d̄`` is then a
    reference scale, and an explicit ``edge`` (e.g. the largest eigenvalue at initialisation)
    is the sharper criterion.
    """
    import scipy.linalg as sla

    mod = _as_model(model)
    e_arg = None if edge is None else as_float("edge", edge, 0.0)
    kk = min(as_int("k", k, 1), mod.n)
    if mod.n > 20_000:
        raise InvalidArgumentError(f"model: n = {mod.n} is too large for a full spectrum")
    check_bytes("model", 40.0 * mod.n * mod.n, f"the full spectrum of {mod.n} spins")
    w, v = sla.eigh(mod.J)
    e = 2 * math.sqrt(float(np.mean(_row_sq(mod)))) if e_arg is None else e_arg
    out = w[np.abs(w) > e]
    out = out[np.argsort(-np.abs(out))]
    return BondSpectrum(w, e, out, np.ascontiguousarray(v[:, ::-1][:, :kk]))


def hidden_order(m: npt.ArrayLike, v: npt.ArrayLike) -> float:
    """Overlap ``|m·v| / (|m| |v|)`` of a magnetisation pattern with a direction (0 when ``m = 0``)."""
    mv = _finite_array("m", m, 1)
    vv = _finite_array("v", v, 1)
    if mv.shape != vv.shape:
        raise InvalidArgumentError(f"v: expected shape {mv.shape} to match m, got {vv.shape}")
    # scale-free: divide each vector by its largest entry first (no overflow of |m|² from 1e155 up)
    am, av = float(np.abs(mv).max()) if mv.size else 0.0, float(np.abs(vv).max()) if vv.size else 0.0
    if am == 0 or av == 0:
        return 0.0
    mv, vv = mv / am, vv / av
    nm, nv = float(np.linalg.norm(mv)), float(np.linalg.norm(vv))
    return min(1.0, abs(float(mv @ vv)) / (nm * nv))


@dataclass(frozen=True)
class HiddenOrderTest:
    """Result of :func:`hidden_order_test`: is the top of the bond spectrum learned structure?

    Attributes
    ----------
    lambda_top : float
        Largest eigenvalue of ``J``.
    controls : ndarray of shape (n_controls,)
        Largest eigenvalue of each weight-shuffled control (same couplings, positions permuted).
    p_value : float
        ``(1 + #{controls ≥ lambda_top}) / (n_controls + 1)``: the chance that a network with the
        same weights in random places has so large a top eigenvalue (exact for exchangeable
        weights, e.g. i.i.d. initialisations).
    z : float
        ``(lambda_top − mean(controls)) / sd(controls)``: the distance from the finite-N edge in
        units of its fluctuations (the Tracy–Widom scale, measured, not assumed).
    edge : float
        ``mean(controls)``: where the top of a structureless spectrum of these weights lies.
    level : float
        Significance level of :attr:`significant`.
    """

    lambda_top: float
    controls: F64
    p_value: float
    z: float
    edge: float
    level: float

    @property
    def significant(self) -> bool:
        """``p_value ≤ level``: the top eigenvalue is an outlier no shuffle of the weights explains."""
        return self.p_value <= self.level

    @property
    def verdict(self) -> str:
        """``"hidden order (p = …)"`` or ``"no hidden order (p = …)"``."""
        return f"{'hidden order' if self.significant else 'no hidden order'} (p = {self.p_value:.3g}, z = {self.z:.2f})"


def _shuffled_top(mod: SpinModel, rng: np.random.Generator) -> float:
    """Top eigenvalue of ``mod`` with its couplings permuted (layer by layer / among the edges)."""
    import scipy.sparse as sps

    if mod.storage == "layered":
        ws = [rng.permutation(w.ravel()).reshape(w.shape) for w in mod.layer_weights]
        return _extreme_eig(SpinModel.from_layers(ws), largest=True)
    if mod.storage == "csr":
        c = sps.triu(mod.to_csr(), k=1, format="coo")
        up = sps.coo_array((rng.permutation(c.data), (c.row, c.col)), shape=c.shape)
        return _extreme_eig(SpinModel(sps.csr_array(up + up.T)), largest=True)
    iu = np.triu_indices(mod.n, 1)
    j = np.zeros((mod.n, mod.n))
    j[iu] = rng.permutation(mod.J[iu])
    return _extreme_eig(SpinModel(j + j.T), largest=True)


def hidden_order_test(
    model: SpinModel | npt.ArrayLike,
    *,
    n_controls: int = 99,
    level: float = 0.01,
    seed: int = 0,
    progress: bool | None = None,
) -> HiddenOrderTest:
    """Tell a learned outlier of the bond spectrum from the random-matrix edge.

    The TAP Hessian's hidden-order crossing (:func:`tap_hessian_scan`'s ``T_hidden``) appears as
    soon as the top eigenvalue of ``J`` passes ``2√d̄``; at finite N the top of a structureless
    spectrum fluctuates around its edge on the Tracy–Widom scale ``N^(-2/3)`` and passes it in a
    good fraction of random networks. This test compares ``λ_top(J)`` with ``n_controls``
    controls holding the same weights in shuffled places: each layer's matrix permuted
    (layered models), the nonzero couplings permuted among the edges (CSR: the graph is kept),
    or the upper triangle permuted (dense). Shuffling keeps every weight and destroys learned
    structure, so the p-value is exact for any network whose weights are exchangeable, such as
    a random initialisation: such networks are called ordered at rate ``level``.

    Parameters
    ----------
    model : SpinModel or array_like of shape (n, n)
    n_controls : int
        Shuffled controls (≥ ``1/level − 1`` so that the level can be reached; default 99).
    level : float
        Significance level in (0, 1) (default 0.01).
    seed : int
        Seed of the shuffles (the result is a function of the seed).
    progress : bool, optional
        A bar over the controls (default: when stderr is a terminal).

    Returns
    -------
    HiddenOrderTest
    """
    mod = _as_model(model)
    nc = as_int("n_controls", n_controls, 1, 1_000_000)
    lv = as_float("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    if 1.0 / (nc + 1) > lv * (1 + 1e-12):
        raise InvalidArgumentError(
            f"n_controls: {nc} controls cannot reach level {lv:g} (the smallest p-value is 1/(n_controls + 1)); "
            f"use at least {math.ceil(1 / lv - 1 - 1e-9)}"
        )
    sd = as_int("seed", seed, 0, 2**63 - 1)
    if mod.n < 2 or mod._coupling_scale(fields=False) == 0:
        raise InvalidArgumentError("model: needs at least two spins and one nonzero coupling")
    check_steps("n_controls", (nc + 1) * min(mod.n**3, 400 * mod._nnz()), f"{nc + 1} top eigenvalues of {mod.n} spins")
    # Scale-aware: the test is invariant under J -> cJ; work at unit scale (a power of two).
    sc = mod._coupling_scale(fields=False) or 1.0
    if not 2.0**-20 <= sc <= 2.0**20:
        mod = _scaled_model(mod, sc)
    lam = _extreme_eig(mod, largest=True)
    rng = np.random.default_rng(sd)
    show = as_bool("progress", progress) if progress is not None else None
    ctrl = np.array([_shuffled_top(mod, rng) for _ in track(range(nc), total=nc, desc="shuffled controls", progress=show)])
    if not (math.isfinite(lam) and np.all(np.isfinite(ctrl))):
        raise ComputationError("hidden_order_test: an eigenvalue is not finite")
    p = (1.0 + float(np.sum(ctrl >= lam))) / (nc + 1.0)
    sdv = float(ctrl.std(ddof=1)) if nc > 1 else float("nan")
    z = (lam - float(ctrl.mean())) / sdv if sdv > 0 else (math.inf if lam > ctrl.mean() else 0.0) if nc > 1 else float("nan")
    scale_back = sc if not 2.0**-20 <= sc <= 2.0**20 else 1.0
    return HiddenOrderTest(lam * scale_back, ctrl * scale_back, p, z, float(ctrl.mean()) * scale_back, lv)


def _scaled_model(mod: SpinModel, sc: float) -> SpinModel:
    """``mod`` with couplings divided by ``sc`` (fields dropped: the test looks at ``J`` only)."""
    import scipy.sparse as sps

    if mod.storage == "layered":
        return SpinModel.from_layers([w / sc for w in mod.layer_weights])
    if mod.storage == "csr":
        return SpinModel(sps.csr_array(mod.to_csr() / sc))
    return SpinModel(mod.J / sc)


@dataclass(frozen=True)
class PowerLawFit:
    """``T_c(t) ≈ A · t^α`` fitted in log-log space over a window.

    Attributes
    ----------
    exponent, prefactor : float
    exponent_ci : (float, float)
        95% confidence interval of the exponent (Student t, ``n − 2`` degrees of freedom).
    window : (float, float)
    n_points : int
    """

    exponent: float
    prefactor: float
    exponent_ci: tuple[float, float]
    window: tuple[float, float]
    n_points: int

    def __call__(self, t: npt.ArrayLike) -> F64:
        """The fitted curve at times ``t``."""
        return np.asarray(self.prefactor * np.asarray(t, dtype=np.float64) ** self.exponent, dtype=np.float64)


def fit_power_law(t: npt.ArrayLike, y: npt.ArrayLike, *, window: tuple[float, float] | None = None) -> PowerLawFit:
    """Least-squares fit of ``ln y = ln A + α ln t`` over ``window[0] ≤ t ≤ window[1]``.

    Parameters
    ----------
    t, y : array_like of shape (k,)
        Times (> 0) and values (> 0), e.g. training steps and ``T_c``.
    window : (float, float), optional
        Fit range of ``t`` (default all points); no exponent is assumed.

    Returns
    -------
    PowerLawFit
    """
    from scipy import stats

    tv = _finite_array("t", t, 1)
    yv = _finite_array("y", y, 1)
    if tv.shape != yv.shape:
        raise InvalidArgumentError(f"y: expected shape {tv.shape} to match t, got {yv.shape}")
    if tv.size == 0:
        raise InvalidArgumentError("t: need at least 3 points, got none")
    if window is None:
        lo, hi = float(tv.min()), float(tv.max())
    else:
        if isinstance(window, (str, bytes)) or not isinstance(window, (Sequence, np.ndarray)) or len(window) != 2:
            raise InvalidArgumentError(f"window: expected a pair (first, last) of times, got {window!r}")
        lo, hi = as_float("window", window[0]), as_float("window", window[1])
        if lo > hi:
            warnings.warn(f"window: ({lo:g}, {hi:g}) is reversed; fitting over ({hi:g}, {lo:g})", UserWarning, stacklevel=2)
            lo, hi = hi, lo
    sel = (tv >= lo) & (tv <= hi) & (tv > 0) & (yv > 0)
    if sel.sum() < 3:
        raise InvalidArgumentError(f"window: need at least 3 points with t, y > 0 inside it, got {int(sel.sum())}")
    x, z = np.log(tv[sel]), np.log(yv[sel])
    k = int(sel.sum())
    sxx = float(((x - x.mean()) ** 2).sum())
    if sxx == 0:
        raise InvalidArgumentError("t: need at least two distinct times inside the window")
    slope = float(((x - x.mean()) * (z - z.mean())).sum() / sxx)
    icpt = float(z.mean() - slope * x.mean())
    resid = z - icpt - slope * x
    se = math.sqrt(float((resid**2).sum()) / (k - 2) / sxx)  # zero for an exact power law, never nan
    q = float(stats.t.ppf(0.975, k - 2))
    with np.errstate(over="ignore", under="ignore"):
        pref = float(np.exp(icpt))
    if not (0 < pref < math.inf):
        # e.g. t ~ 1e300 with α ≈ −1: A = y / t^α is beyond the float range, the exponent is fine
        raise InvalidArgumentError(
            f"t: the fitted prefactor A = exp({icpt:.6g}) is outside the float range (exponent {slope:.6g}); "
            "rescale t (e.g. t / max(t)) or y"
        )
    return PowerLawFit(slope, pref, (slope - q * se, slope + q * se), (lo, hi), k)
