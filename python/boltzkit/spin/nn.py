"""The paper's experiment: train small MLPs, map weight snapshots to spin models, follow T_c.

"Neural Networks as Spin Models: From Glass to Hidden Order Through Training" (Barney, Winer,
Galitski) maps a network's weights to a layered Ising model and follows its phases through
training. This module trains small MLPs with numpy only (Adam, softmax cross-entropy) on
scikit-learn's bundled 8×8 digits, or on MNIST from a user-supplied ``.npz`` file, with
continuous (tanh / ReLU) or binarised (sign, straight-through gradient) activations, takes weight
snapshots at log-spaced steps and analyses each one with :mod:`boltzkit.spin.phase`.

The paper's full text was not available to us: the spin mapping choices (input spins kept,
biases ignored, no rescaling) are options of :meth:`SpinModel.from_layers`, and the power-law
exponent is fitted, never assumed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from boltzkit._progress import track
from boltzkit._validate import as_bool, as_float, as_int, check_bytes, check_steps
from boltzkit.errors import InvalidArgumentError, InvalidTypeError
from boltzkit.spin._model import SpinModel, _finite_array, _posint, _seed, _temps
from boltzkit.spin.phase import (
    PowerLawFit,
    bond_spectrum,
    fit_power_law,
    hidden_order,
    hidden_order_test,
    tap_hessian_scan,
    tc_glass,
    tc_layered_theory,
)

__all__ = [
    "Activation",
    "PhaseTrajectory",
    "Snapshot",
    "TrainConfig",
    "Training",
    "analyse_training",
    "load_digits",
    "load_npz",
    "train_mlp",
]

F64 = npt.NDArray[np.float64]
#: ``TrainConfig.activation``: the hidden activation (``sign`` trains with a straight-through gradient).
Activation = Literal["tanh", "relu", "sign"]


def load_digits(seed: int = 0, test_fraction: float = 0.25) -> tuple[F64, npt.NDArray[np.int64], F64, npt.NDArray[np.int64]]:
    """scikit-learn's bundled 8×8 digits (1797 images, no download), standardised and split.

    Returns
    -------
    x_train, y_train, x_test, y_test : ndarray
        Inputs of shape (k, 64), float64; labels 0–9.

    Raises
    ------
    InvalidArgumentError
        When scikit-learn is not installed (``pip install 'boltzkit[spin]'``).
    """
    try:
        from sklearn.datasets import load_digits as _ld
    except ImportError:
        raise InvalidArgumentError("dataset: 'digits' needs scikit-learn; pip install 'boltzkit[spin]'") from None
    d = _ld()
    x = np.asarray(d.data, dtype=np.float64) / 16.0
    y = np.asarray(d.target, dtype=np.int64)
    return _split(x, y, seed, test_fraction)


def load_npz(
    path: str | Path, seed: int = 0, test_fraction: float = 0.25
) -> tuple[F64, npt.NDArray[np.int64], F64, npt.NDArray[np.int64]]:
    """Images and labels from a ``.npz`` file (e.g. MNIST saved by the user).

    The file holds ``x_train``, ``y_train`` and optionally ``x_test``, ``y_test`` (the layout of
    Keras' ``mnist.npz``), or ``x`` and ``y`` (then split here). Images are flattened and scaled
    to [0, 1] by their maximum.
    """
    if not isinstance(path, (str, Path)):
        raise InvalidTypeError(f"path: expected a str or pathlib.Path, got {type(path).__name__}")
    test_fraction = as_float("test_fraction", test_fraction, 0.0, 1.0, lo_open=True, hi_open=True)
    seed = _seed(seed)
    p = Path(path)
    try:
        z = np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise InvalidArgumentError(f"path: cannot load {str(p)!r}: {e}") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise InvalidArgumentError(f"path: {str(p)!r} is a single .npy array, not an .npz archive")
    with z:
        keys = set(z.files)
        if {"x_train", "y_train"} <= keys:
            xtr, ytr = z["x_train"], z["y_train"]
            if {"x_test", "y_test"} <= keys:
                xte, yte = z["x_test"], z["y_test"]
                scale = float(max(np.max(xtr), 1e-12))
                return (xtr.reshape(len(xtr), -1) / scale, ytr.astype(np.int64), xte.reshape(len(xte), -1) / scale,
                        yte.astype(np.int64))  # fmt: skip
            x, y = xtr, ytr
        elif {"x", "y"} <= keys:
            x, y = z["x"], z["y"]
        else:
            raise InvalidArgumentError(f"path: {str(p)!r} needs arrays x_train, y_train (or x, y); has {sorted(keys)}")
    try:
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        y = np.asarray(y)
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"path: {str(p)!r} holds arrays that are not numeric images: {e}") from None
    if x.size == 0 or not np.all(np.isfinite(x)) or y.dtype.kind not in "iu":
        raise InvalidArgumentError(f"path: {str(p)!r} needs finite images and integer labels")
    return _split(x / max(float(x.max()), 1e-12), np.asarray(y, dtype=np.int64), seed, test_fraction)


def _split(
    x: F64, y: npt.NDArray[np.int64], seed: int, frac: float
) -> tuple[F64, npt.NDArray[np.int64], F64, npt.NDArray[np.int64]]:
    if len(x) != len(y) or len(x) < 4:
        raise InvalidArgumentError("path: need at least 4 images with one label each")
    frac = as_float("test_fraction", frac, 0.0, 1.0, lo_open=True, hi_open=True)
    idx = np.random.default_rng(_seed(seed)).permutation(len(x))
    k = max(1, round(len(x) * frac))
    te, tr = idx[:k], idx[k:]
    return x[tr], y[tr], x[te], y[te]


@dataclass(frozen=True)
class TrainConfig:
    """Training set-up of a small MLP.

    Attributes
    ----------
    hidden : tuple of int
        Hidden widths (input and output widths come from the data).
    activation : {"tanh", "relu", "sign"}
        ``"sign"`` is the binarised network (straight-through gradient ``1_{|z| ≤ 1}``).
    steps : int
        Adam steps.
    batch_size : int
    lr : float
        Adam learning rate.
    n_snapshots : int
        Snapshots at step 0 and at log-spaced steps up to ``steps``.
    init_scale : float
        Initial weights ``N(0, init_scale / n_in)`` (1: LeCun).
    seed : int
    """

    hidden: tuple[int, ...] = (128, 128)
    activation: Activation = "tanh"
    steps: int = 3000
    batch_size: int = 64
    lr: float = 1e-3
    n_snapshots: int = 12
    init_scale: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.hidden, (str, bytes)) or not isinstance(self.hidden, (Sequence, np.ndarray)):
            raise InvalidTypeError(f"hidden: expected a tuple of positive widths, got {type(self.hidden).__name__}")
        if len(self.hidden) == 0:
            raise InvalidArgumentError("hidden: expected at least one positive width, got none")
        for k, h in enumerate(self.hidden):
            _posint(f"hidden[{k}]", h, 1, 1 << 20)
        if not isinstance(self.activation, str) or self.activation not in ("tanh", "relu", "sign"):
            raise InvalidArgumentError(f"activation: expected 'tanh', 'relu' or 'sign', got {self.activation!r}")
        _posint("steps", self.steps)
        _posint("batch_size", self.batch_size, 1, 1 << 24)
        _posint("n_snapshots", self.n_snapshots, 2, 10_000)
        as_float("lr", self.lr, 0.0, 1e6, lo_open=True)
        as_float("init_scale", self.init_scale, 0.0, 1e6, lo_open=True)
        _seed(self.seed)


@dataclass(frozen=True)
class Snapshot:
    """Weights (PyTorch layout (out, in)) and biases at a training step, with accuracies."""

    step: int
    weights: list[F64]
    biases: list[F64]
    train_accuracy: float
    test_accuracy: float
    loss: float


@dataclass(frozen=True)
class Training:
    """A training run: its configuration, widths and snapshots."""

    config: TrainConfig
    widths: list[int]
    snapshots: list[Snapshot] = field(default_factory=list)


def _act(z: F64, kind: str) -> tuple[F64, F64]:
    if kind == "tanh":
        a = np.tanh(z)
        return a, 1 - a * a
    if kind == "relu":
        return np.maximum(z, 0), (z > 0).astype(np.float64)
    return np.where(z >= 0, 1.0, -1.0), (np.abs(z) <= 1).astype(np.float64)


def _forward(ws: list[F64], bs: list[F64], x: F64, kind: str) -> F64:
    a = x
    for k, (w, b) in enumerate(zip(ws, bs, strict=True)):
        z = a @ w.T + b
        a = z if k == len(ws) - 1 else _act(z, kind)[0]
    return a


def _accuracy(ws: list[F64], bs: list[F64], x: F64, y: npt.NDArray[np.int64], kind: str) -> tuple[float, float]:
    logits = _forward(ws, bs, x, kind)
    logits = logits - logits.max(axis=1, keepdims=True)
    lp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(np.mean(np.argmax(logits, axis=1) == y)), float(-lp[np.arange(len(y)), y].mean())


def _labels(name: str, y: object, k: int) -> npt.NDArray[np.int64]:
    a = np.asarray(y)
    if a.dtype.kind not in "iu":
        raise InvalidTypeError(f"{name}: expected integer class labels, got dtype {a.dtype}")
    if a.shape != (k,):
        raise InvalidArgumentError(f"{name}: expected shape ({k},), one label per image, got {a.shape}")
    if a.size and (int(a.min()) < 0 or int(a.max()) >= 1 << 16):
        raise InvalidArgumentError(f"{name}: labels must be between 0 and 65535, got {int(a.min())} … {int(a.max())}")
    return a.astype(np.int64)


def train_mlp(
    x_train: F64,
    y_train: npt.NDArray[np.int64],
    x_test: F64,
    y_test: npt.NDArray[np.int64],
    config: TrainConfig | None = None,
    *,
    progress: bool | None = None,
) -> Training:
    """Train an MLP with Adam on softmax cross-entropy, keeping weight snapshots.

    Parameters
    ----------
    x_train, y_train, x_test, y_test : ndarray
        Inputs (k, d) float64 and integer labels.
    config : TrainConfig
    progress : bool, optional
        Progress bar over steps (default: when stderr is a terminal).

    Returns
    -------
    Training
    """
    config = TrainConfig() if config is None else config
    if not isinstance(config, TrainConfig):
        raise InvalidTypeError(f"config: expected a TrainConfig, got {type(config).__name__}")
    x_train = _finite_array("x_train", x_train, 2)
    x_test = _finite_array("x_test", x_test, 2)
    y_train = _labels("y_train", y_train, x_train.shape[0])
    y_test = _labels("y_test", y_test, x_test.shape[0])
    if x_train.shape[0] == 0 or x_train.shape[1] == 0:
        raise InvalidArgumentError(f"x_train: expected at least one image with one pixel, got shape {x_train.shape}")
    if x_test.shape[1] != x_train.shape[1]:
        raise InvalidArgumentError(f"x_test: expected {x_train.shape[1]} columns like x_train, got shape {x_test.shape}")
    n_cls = int(max(y_train.max(), y_test.max() if y_test.size else 0)) + 1
    w_all = [int(x_train.shape[1]), *[int(h) for h in config.hidden], n_cls]
    n_par = sum(w_all[k] * w_all[k + 1] + w_all[k + 1] for k in range(len(w_all) - 1))
    check_bytes("config", 8.0 * n_par * (config.n_snapshots + 4), f"{config.n_snapshots} snapshots of {n_par} parameters")
    check_steps(
        "config",
        config.steps * config.batch_size * n_par * 6,
        f"{config.steps} steps x {config.batch_size} images x {n_par} parameters",
    )
    widths = [int(x_train.shape[1]), *[int(h) for h in config.hidden], n_cls]
    rng = np.random.default_rng(config.seed)
    ws = [
        rng.standard_normal((widths[k + 1], widths[k])) * math.sqrt(config.init_scale / widths[k]) for k in range(len(widths) - 1)
    ]
    bs = [np.zeros(widths[k + 1]) for k in range(len(widths) - 1)]
    params = ws + bs
    mom = [np.zeros_like(p) for p in params]
    vel = [np.zeros_like(p) for p in params]
    b1, b2, eps = 0.9, 0.999, 1e-8
    snap_at = set(np.unique(np.geomspace(1, config.steps, config.n_snapshots - 1).round().astype(int)).tolist()) | {0}
    tr = Training(config, widths)
    kind = config.activation
    nl = len(ws)

    def snap(step: int) -> None:
        acc_tr, loss = _accuracy(ws, bs, x_train, y_train, kind)
        acc_te, _ = _accuracy(ws, bs, x_test, y_test, kind)
        tr.snapshots.append(Snapshot(step, [w.copy() for w in ws], [b.copy() for b in bs], acc_tr, acc_te, loss))

    snap(0)
    for step in track(range(1, config.steps + 1), total=config.steps, desc=f"train {kind}", progress=progress):
        idx = rng.integers(0, len(x_train), config.batch_size)
        xb, yb = x_train[idx], y_train[idx]
        acts, ders = [xb], []
        a = xb
        for k in range(nl):
            z = a @ ws[k].T + bs[k]
            if k == nl - 1:
                a = z
            else:
                a, d = _act(z, kind)
                ders.append(d)
            acts.append(a)
        logits = acts[-1] - acts[-1].max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(yb)), yb] -= 1
        delta = p / len(yb)
        grads_w: list[F64] = [np.empty(0)] * nl
        grads_b: list[F64] = [np.empty(0)] * nl
        for k in range(nl - 1, -1, -1):
            grads_w[k] = delta.T @ acts[k]
            grads_b[k] = delta.sum(axis=0)
            if k > 0:
                delta = (delta @ ws[k]) * ders[k - 1]
        for i, g in enumerate(grads_w + grads_b):
            mom[i] = b1 * mom[i] + (1 - b1) * g
            vel[i] = b2 * vel[i] + (1 - b2) * g * g
            mh = mom[i] / (1 - b1**step)
            vh = vel[i] / (1 - b2**step)
            params[i] -= config.lr * mh / (np.sqrt(vh) + eps)
        if step in snap_at:
            snap(step)
    return tr


@dataclass(frozen=True)
class PhaseTrajectory:
    """Phase analysis of every snapshot of a :class:`Training`.

    Attributes
    ----------
    steps : ndarray of shape (k,)
    tc_glass : ndarray of shape (k,)
        ``√λ_Perron(J∘J)`` of each snapshot.
    T_glass, T_hidden : ndarray of shape (k,)
        TAP-Hessian criteria (:func:`boltzkit.spin.phase.tap_hessian_scan`).
    T_c : ndarray of shape (k,)
        ``max(T_glass, T_hidden)`` where the hidden order is significant, else ``T_glass``: a
        hidden-order crossing caused by a random fluctuation of the spectrum's edge is not a phase.
    hidden_p, hidden_z : ndarray of shape (k,)
        p-value and z-score of :func:`boltzkit.spin.phase.hidden_order_test` (top eigenvalue of
        ``J`` against weight-shuffled controls).
    hidden_significant : ndarray of shape (k,), bool
        ``hidden_p ≤ level``.
    t_hidden_formula : ndarray of shape (k,)
    tc_theory_init : float
        Layered-SK theory for the initial weight variances.
    lambda_top : ndarray of shape (k,)
        Largest eigenvalue of ``J``.
    n_outliers : ndarray of shape (k,)
        Eigenvalues beyond the initial spectrum's edge.
    q, overlap : ndarray of shape (k,)
        TAP ``q = mean(m²)`` and hidden-order overlap ``|m·v₁|/|m|`` at ``T = T_frac · T_c``
        from a ``±v₁`` start (``v₁``: top eigenvector of ``J``).
    train_accuracy, test_accuracy : ndarray of shape (k,)
    fit : PowerLawFit or None
        ``T_c(t)`` power law over the fit window (None when too few points).
    """

    label: str
    steps: F64
    tc_glass: F64
    T_glass: F64
    T_hidden: F64
    T_c: F64
    t_hidden_formula: F64
    hidden_p: F64
    hidden_z: F64
    hidden_significant: npt.NDArray[np.bool_]
    tc_theory_init: float
    lambda_top: F64
    n_outliers: F64
    q: F64
    overlap: F64
    train_accuracy: F64
    test_accuracy: F64
    fit: PowerLawFit | None
    spectra: list[F64]


def analyse_training(
    tr: Training,
    *,
    T_grid: npt.ArrayLike | None = None,
    T_frac: float = 0.7,
    fit_window: tuple[float, float] | None = None,
    label: str | None = None,
    include_input: bool = True,
    progress: bool | None = None,
    threads: int | None = None,
    n_controls: int = 99,
    level: float = 0.01,
) -> PhaseTrajectory:
    """Map each snapshot to a spin model and compute its critical temperatures and phases.

    Parameters
    ----------
    tr : Training
    T_grid : array_like, optional
        Temperatures of the Hessian scan (default 48 points geometric in [0.2, 8] × the
        initial theory T_c).
    T_frac : float
        Where the TAP phase point is taken, as a fraction of each snapshot's ``T_c``.
    fit_window : (float, float), optional
        Steps used for the power-law fit of ``T_c`` (default: all steps > 0).
    include_input : bool
        Keep input-layer spins (see :meth:`SpinModel.from_layers`).
    progress : bool, optional
        A bar over the snapshots (default: when stderr is a terminal).
    threads : int, optional
        Worker threads of the core calls.
    n_controls, level : int, float
        Shuffled controls and significance level of the hidden-order test
        (:func:`boltzkit.spin.phase.hidden_order_test`; the seed is the snapshot's index).

    Returns
    -------
    PhaseTrajectory
    """
    if not isinstance(tr, Training):
        raise InvalidTypeError(f"tr: expected a Training from train_mlp, got {type(tr).__name__}")
    T_frac = as_float("T_frac", T_frac, 0.0, 10.0, lo_open=True)
    include_input = as_bool("include_input", include_input)
    n_controls = as_int("n_controls", n_controls, 1, 1_000_000)
    level = as_float("level", level, 0.0, 1.0, lo_open=True, hi_open=True)
    snaps = tr.snapshots
    if not snaps:
        raise InvalidArgumentError("tr: the training has no snapshots")
    if not include_input and len(tr.widths) < 3:
        raise InvalidArgumentError("include_input: dropping the input of a one-layer network leaves no couplings")
    v0 = [float(np.var(w)) for w in snaps[0].weights]
    widths = tr.widths if include_input else tr.widths[1:]
    tc0 = tc_layered_theory(tr.widths, v0) if include_input else tc_layered_theory(widths, v0[1:])
    if T_grid is None:
        if not tc0 > 0:
            raise InvalidArgumentError("T_grid: the initial weights are all zero; pass a temperature grid")
        grid = np.geomspace(0.2 * tc0, 8 * tc0, 48)
    else:
        grid = _temps("T_grid", T_grid)
    edge0: float | None = None
    rows: list[list[float]] = []
    spectra: list[F64] = []
    for idx, s in enumerate(track(snaps, total=len(snaps), desc="snapshots", progress=progress)):
        model = SpinModel.from_layers(s.weights, include_input=include_input)
        ho = hidden_order_test(model, n_controls=n_controls, level=level, seed=idx, progress=False)
        spec = bond_spectrum(model, edge=edge0)
        if edge0 is None:
            edge0 = float(np.max(np.abs(spec.eigenvalues))) * 1.02
            spec = bond_spectrum(model, edge=edge0)
        spectra.append(spec.eigenvalues)
        scan = tap_hessian_scan(model, grid)
        tg = tc_glass(model, threads=threads)
        t_c = scan.T_c if ho.significant else scan.T_glass
        t_phase = T_frac * t_c
        tap = model.tap([t_phase], init="eigen", n_starts=2, max_iter=20_000, damping=0.3, threads=threads, warn=False)
        ok = tap.converged[:, 0]
        k = int(np.argmin(np.where(ok, tap.free_energy[:, 0], np.inf))) if ok.any() else 0
        m = tap.m[k, 0]
        rows.append([float(s.step), tg, scan.T_glass, scan.T_hidden, t_c, scan.formula, float(spec.eigenvalues[-1]),
                     float(spec.n_outliers), float(tap.q[k, 0]), hidden_order(m, spec.top_vectors[:, 0]) if np.any(m) else 0.0,
                     s.train_accuracy, s.test_accuracy, ho.p_value, ho.z, float(ho.significant)])  # fmt: skip
    a = np.array(rows)
    steps = a[:, 0]
    fit = None
    pos = steps > 0
    try:
        fit = fit_power_law(steps[pos], a[pos, 4], window=fit_window)
    except InvalidArgumentError:
        fit = None
    return PhaseTrajectory(
        label=label or tr.config.activation,
        steps=steps,
        tc_glass=a[:, 1],
        T_glass=a[:, 2],
        T_hidden=a[:, 3],
        T_c=a[:, 4],
        t_hidden_formula=a[:, 5],
        hidden_p=a[:, 12],
        hidden_z=a[:, 13],
        hidden_significant=a[:, 14] > 0,
        tc_theory_init=tc0,
        lambda_top=a[:, 6],
        n_outliers=a[:, 7],
        q=a[:, 8],
        overlap=a[:, 9],
        train_accuracy=a[:, 10],
        test_accuracy=a[:, 11],
        fit=fit,
        spectra=spectra,
    )


def plot_trajectories(trajs: Sequence[PhaseTrajectory], out: Path, prefix: str = "spin_nn") -> list[Path]:
    """Write the experiment's figures: T_c vs step (with power-law fits), phases, bond spectra."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files: list[Path] = []
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for k, tj in enumerate(trajs):
        c = f"C{k}"
        pos = tj.steps > 0
        axes[0].loglog(tj.steps[pos], tj.T_c[pos], "o-", color=c, ms=4, label=f"{tj.label}: T_c (TAP Hessian)")
        axes[0].loglog(tj.steps[pos], tj.tc_glass[pos], "s:", color=c, ms=3, alpha=0.6, label=f"{tj.label}: √λ(J∘J)")
        if tj.fit is not None:
            ts = np.geomspace(tj.fit.window[0], tj.fit.window[1], 50)
            lo, hi = tj.fit.exponent_ci
            axes[0].loglog(ts, tj.fit(ts), "--", color=c, lw=1, label=f"fit ∝ t^{tj.fit.exponent:.2f} [{lo:.2f}, {hi:.2f}]")
        axes[0].axhline(tj.tc_theory_init, color=c, lw=0.6, ls="-.")
        axes[1].semilogx(tj.steps[pos], tj.test_accuracy[pos], "o-", color=c, ms=4, label=f"{tj.label}: test accuracy")
        axes[1].semilogx(tj.steps[pos], tj.overlap[pos], "s--", color=c, ms=3, label=f"{tj.label}: hidden-order overlap")
    axes[0].set_xlabel("training step")
    axes[0].set_ylabel("T_c")
    axes[0].set_title("Critical temperature through training (dash-dot: layered-SK theory at init)")
    axes[0].legend(fontsize=7)
    axes[1].set_xlabel("training step")
    axes[1].set_title("Accuracy and TAP overlap with the top bond eigenvector at 0.7 T_c")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    p = out / f"{prefix}_tc_vs_training.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    files.append(p)
    fig, axes = plt.subplots(1, len(trajs), figsize=(5.5 * len(trajs), 3.8), squeeze=False)
    for ax, tj in zip(axes[0], trajs, strict=True):
        for idx, lab in ((0, "init"), (len(tj.spectra) - 1, f"step {int(tj.steps[-1])}")):
            ax.hist(tj.spectra[idx], bins=80, density=True, histtype="step", label=lab)
        ax.set_yscale("log")
        ax.set_xlabel("eigenvalue of J")
        ax.set_title(f"Bond spectrum, {tj.label}: {int(tj.n_outliers[-1])} outliers after training")
        ax.legend(fontsize=8)
    fig.tight_layout()
    p = out / f"{prefix}_bond_spectrum.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    files.append(p)
    return files
