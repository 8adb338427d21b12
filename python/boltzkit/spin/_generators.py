"""Standard instances: Sherrington–Kirkpatrick, layered SK, lattices, Curie–Weiss, chains."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Literal

import numpy as np

from boltzkit._validate import as_bool, as_float, check_bytes
from boltzkit.errors import InvalidArgumentError, InvalidTypeError
from boltzkit.spin._model import MAX_COUPLING, FloatDtype, SpinModel, _posint, _seed

__all__ = ["Bonds", "Couplings", "chain", "curie_weiss", "lattice_2d", "layered_sk", "sk"]

#: ``couplings=`` of :func:`sk`: Gaussian or ``±1`` couplings.
Couplings = Literal["gaussian", "pm1"]
#: ``kind=`` of :func:`lattice_2d`: ferromagnet, ``±J`` glass or Gaussian glass.
Bonds = Literal["ferro", "pm_j", "gaussian"]


def sk(
    n: int,
    *,
    seed: int = 0,
    J0: float = 0.0,
    h_std: float = 0.0,
    couplings: Couplings = "gaussian",
    dtype: FloatDtype = np.float64,
) -> SpinModel:
    """Sherrington–Kirkpatrick model: ``J_ij = J0/n + z_ij/√n`` for ``i < j``.

    Parameters
    ----------
    n : int
        Spins (≥ 2).
    seed : int
        Seed of numpy's ``default_rng``.
    J0 : float
        Ferromagnetic mean ``J0/n`` (``J0 > 1`` gives a ferromagnetic phase below ``T ≈ J0``).
    h_std : float
        Standard deviation of Gaussian random fields.
    couplings : {"gaussian", "pm1"}
        ``z_ij ~ N(0, 1)`` or ``±1`` with equal probability.
    dtype : numpy.float64 or numpy.float32
        Storage for annealing (see :class:`SpinModel`).

    Returns
    -------
    SpinModel
        Dense; ``T_c = 1`` for ``J0 < 1``, ``h = 0``.
    """
    n = _posint("n", n, 2)
    check_bytes("n", 48.0 * n * n, f"an SK model of {n} spins ({n} x {n} couplings)")
    J0 = as_float("J0", J0, -MAX_COUPLING, MAX_COUPLING)
    h_std = as_float("h_std", h_std, 0.0, MAX_COUPLING / 100)
    rng = np.random.default_rng(_seed(seed))
    if couplings == "gaussian":
        z = rng.standard_normal((n, n))
    elif couplings == "pm1":
        z = rng.choice(np.array([-1.0, 1.0]), size=(n, n))
    else:
        raise InvalidArgumentError(f"couplings: expected 'gaussian' or 'pm1', got {couplings!r}")
    j = np.triu(z, 1) / np.sqrt(n) + np.triu(np.full((n, n), float(J0) / n), 1)
    j = j + j.T
    h = float(h_std) * rng.standard_normal(n) if h_std else None
    return SpinModel(j, h, dtype=dtype)


def layered_sk(
    widths: Sequence[int],
    *,
    variances: float | Sequence[float] | None = None,
    seed: int = 0,
) -> SpinModel:
    """Layered SK model: the spin model of an MLP at random initialisation.

    ``W_l`` has i.i.d. ``N(0, v_l)`` entries, shape ``(widths[l+1], widths[l])``.

    Parameters
    ----------
    widths : sequence of int
        Layer widths ``n_0 … n_L`` (at least two layers).
    variances : float or sequence of float, optional
        Entry variance ``v_l`` per matrix (a scalar for all); default
        ``1/√(n_l n_{l+1})``, i.e. ``C = N v = 1`` for equal widths.
    seed : int

    Returns
    -------
    SpinModel
        Layered storage; the spin-glass temperature is
        :func:`boltzkit.spin.phase.tc_layered_theory` ``(widths, variances)``.
    """
    if isinstance(widths, (str, bytes)) or not isinstance(widths, (Sequence, np.ndarray)):
        raise InvalidTypeError(f"widths: expected a list of ints, got {type(widths).__name__}")
    ws = [_posint(f"widths[{k}]", w) for k, w in enumerate(widths)]
    if len(ws) < 2:
        raise InvalidArgumentError("widths: need at least two layers")
    n_w = sum(ws[k] * ws[k + 1] for k in range(len(ws) - 1))
    check_bytes("widths", 24.0 * n_w, f"{n_w} weights")
    vmax = MAX_COUPLING**2 / 1e4
    if variances is None:
        v = [1.0 / np.sqrt(ws[k] * ws[k + 1]) for k in range(len(ws) - 1)]
    elif isinstance(variances, numbers.Real) and not isinstance(variances, bool):
        v = [as_float("variances", variances, 0.0, vmax)] * (len(ws) - 1)
    else:
        if isinstance(variances, (str, bytes)) or not isinstance(variances, (Sequence, np.ndarray)):
            raise InvalidTypeError(f"variances: expected a float or a list of floats, got {type(variances).__name__}")
        v = [as_float("variances", x, 0.0, vmax) for x in variances]
        if len(v) != len(ws) - 1:
            raise InvalidArgumentError(f"variances: expected {len(ws) - 1} values, got {len(v)}")
    rng = np.random.default_rng(_seed(seed))
    weights = [np.sqrt(v[k]) * rng.standard_normal((ws[k + 1], ws[k])) for k in range(len(ws) - 1)]
    return SpinModel.from_layers(weights)


def lattice_2d(
    L: int,
    *,
    kind: Bonds = "ferro",
    J: float = 1.0,
    h: float = 0.0,
    seed: int = 0,
) -> SpinModel:
    """Square ``L × L`` lattice with periodic boundaries (nearest neighbours), sparse storage.

    Spin ``(x, y)`` has index ``x·L + y``.

    Parameters
    ----------
    L : int
        Side (≥ 3, so that the four neighbours are distinct).
    kind : {"ferro", "pm_j", "gaussian"}
        Bonds ``J``; ``±J`` with equal probability (Edwards–Anderson ±J glass); or ``J·N(0,1)``.
    J : float
        Bond scale.
    h : float
        Uniform field.
    seed : int
        For the random bonds.

    Returns
    -------
    SpinModel
        CSR storage; the ferromagnet has ``T_c = 2 / ln(1 + √2) ≈ 2.269`` for ``J = 1``.
    """
    import scipy.sparse as sps

    L = _posint("L", L, 3)
    check_bytes("L", 200.0 * L * L, f"a {L} x {L} lattice")
    J = as_float("J", J, -MAX_COUPLING, MAX_COUPLING)
    h = as_float("h", h, -MAX_COUPLING, MAX_COUPLING)
    rng = np.random.default_rng(_seed(seed))
    idx = np.arange(L * L).reshape(L, L)
    rows = np.concatenate([idx.ravel(), idx.ravel()])
    cols = np.concatenate([np.roll(idx, -1, axis=0).ravel(), np.roll(idx, -1, axis=1).ravel()])
    nb = rows.size
    if kind == "ferro":
        vals = np.full(nb, float(J))
    elif kind == "pm_j":
        vals = float(J) * rng.choice(np.array([-1.0, 1.0]), size=nb)
    elif kind == "gaussian":
        vals = float(J) * rng.standard_normal(nb)
    else:
        raise InvalidArgumentError(f"kind: expected 'ferro', 'pm_j' or 'gaussian', got {kind!r}")
    m = sps.coo_array((vals, (rows, cols)), shape=(L * L, L * L))
    return SpinModel(sps.csr_array(m + m.T), np.full(L * L, float(h)))


def curie_weiss(n: int, *, J0: float = 1.0, h: float = 0.0) -> SpinModel:
    """Fully connected ferromagnet ``J_ij = J0/n`` with uniform field ``h`` (dense)."""
    n = _posint("n", n, 2)
    check_bytes("n", 24.0 * n * n, f"a Curie-Weiss model of {n} spins ({n} x {n} couplings)")
    J0 = as_float("J0", J0, -MAX_COUPLING, MAX_COUPLING)
    h = as_float("h", h, -MAX_COUPLING, MAX_COUPLING)
    j = np.full((n, n), float(J0) / n)
    np.fill_diagonal(j, 0.0)
    return SpinModel(j, np.full(n, float(h)))


def chain(n: int, *, J: float = 1.0, h: float = 0.0, periodic: bool = True) -> SpinModel:
    """1-D Ising chain (ring when ``periodic``) with uniform coupling ``J`` and field ``h``."""
    periodic = as_bool("periodic", periodic)
    n = _posint("n", n, 3 if periodic else 2)
    check_bytes("n", 24.0 * n * n, f"a chain of {n} spins (dense {n} x {n} couplings)")
    J = as_float("J", J, -MAX_COUPLING, MAX_COUPLING)
    h = as_float("h", h, -MAX_COUPLING, MAX_COUPLING)
    j = np.zeros((n, n))
    i = np.arange(n - 1)
    j[i, i + 1] = J
    if periodic:
        j[n - 1, 0] = J
    return SpinModel(j + j.T, np.full(n, float(h)))
