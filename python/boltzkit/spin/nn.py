"""The paper's experiment: train small MLPs, map weight snapshots to spin models, follow T_c.

"Neural Networks as Spin Models: From Glass to Hidden Order Through Training" (Barney, Winer,
Galitski) maps a network's weights to a layered Ising model and follows its phases through
training. This module trains small MLPs with numpy only (Adam, softmax cross-entropy) on
scikit-learn's bundled 8×8 digits, or on MNIST supplied by the user (the IDX files of the MNIST
distribution, plain or gzipped, or Keras' ``mnist.npz``), with
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
    "load_dataset",
    "load_digits",
    "load_idx",
    "load_npz",
    "read_idx",
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


# IDX (LeCun's MNIST format): magic 0x00 0x00 <dtype code> <ndim>, ndim big-endian uint32 sizes, then
# the data, big-endian, in C order. The dtype codes of the format's definition:
_IDX_DTYPES: dict[int, str] = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
# The four files of the MNIST distribution (and the dotted spelling of some mirrors), each maybe gzipped.
_MNIST_FILES = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def read_idx(path: str | Path, *, name: str = "path") -> npt.NDArray[np.generic]:
    """One IDX file (plain or gzipped), exactly as stored.

    Parameters
    ----------
    path : str or pathlib.Path
        An IDX file such as ``train-images-idx3-ubyte`` or ``train-images-idx3-ubyte.gz`` (gzip is
        recognised by its magic bytes, whatever the file is called).
    name : str
        The argument named in error messages.

    Returns
    -------
    ndarray
        Shape from the header (e.g. (60000, 28, 28)), dtype from its type code in native byte order:
        uint8 (0x08), int8 (0x09), int16 (0x0B), int32 (0x0C), float32 (0x0D), float64 (0x0E).

    Raises
    ------
    InvalidArgumentError
        When the file is missing or unreadable, is not gzip-compressed correctly, its magic number
        or type code is not IDX, or its length differs from what the header's sizes imply
        (truncated or trailing bytes).
    """
    import gzip
    import zlib

    if not isinstance(path, (str, Path)):
        raise InvalidTypeError(f"{name}: expected a str or pathlib.Path, got {type(path).__name__}")
    p = Path(path)
    where = f"{name}: {str(p)!r}"
    try:
        with open(p, "rb") as raw:
            gz = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            stream = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw
            try:
                head = stream.read(4)
                if len(head) < 4:
                    raise InvalidArgumentError(f"{where} is too short for an IDX header ({len(head)} bytes)")
                if head[0] != 0 or head[1] != 0:
                    raise InvalidArgumentError(
                        f"{where} is not an IDX file: magic number 0x{head.hex()} does not start with two zero bytes"
                    )
                code, ndim = head[2], head[3]
                if code not in _IDX_DTYPES:
                    raise InvalidArgumentError(
                        f"{where}: unknown IDX type code 0x{code:02x} (expected one of 08, 09, 0b, 0c, 0d, 0e)"
                    )
                if ndim == 0:
                    raise InvalidArgumentError(f"{where}: IDX header declares 0 dimensions")
                dims_raw = stream.read(4 * ndim)
                if len(dims_raw) < 4 * ndim:
                    raise InvalidArgumentError(f"{where} is truncated inside its header ({ndim} dimensions declared)")
                dims = tuple(int(d) for d in np.frombuffer(dims_raw, dtype=">u4"))
                dt = np.dtype(_IDX_DTYPES[code])
                count = math.prod(dims)
                nbytes = count * dt.itemsize
                check_bytes(name, 2.0 * nbytes, f"the IDX array of shape {dims} in {str(p)!r}")
                data = stream.read(nbytes + 1)
            finally:
                if gz:
                    stream.close()
    except FileNotFoundError:
        raise InvalidArgumentError(f"{where} does not exist") from None
    except IsADirectoryError:
        raise InvalidArgumentError(f"{where} is a directory, not an IDX file") from None
    except (OSError, EOFError, zlib.error) as e:
        raise InvalidArgumentError(f"{where} cannot be read (corrupt or truncated gzip?): {e}") from None
    if len(data) < nbytes:
        raise InvalidArgumentError(
            f"{where} is truncated: its header declares shape {dims} of {dt.name}, {nbytes} data bytes; {len(data)} follow"
        )
    if len(data) > nbytes:
        raise InvalidArgumentError(f"{where} has bytes after the {nbytes} data bytes its header declares (shape {dims})")
    return np.frombuffer(data, dtype=dt).reshape(dims).astype(dt.newbyteorder("="))


def _find_idx(d: Path, key: str) -> Path | None:
    for stem in _MNIST_FILES[key]:
        for cand in (d / stem, d / f"{stem}.gz"):
            if cand.is_file():
                return cand
    return None


def _idx_pair(img_path: Path, lab_path: Path, img_name: str, lab_name: str) -> tuple[F64, npt.NDArray[np.int64], bool]:
    """Images flattened to float64, labels int64, and whether the images were stored as uint8."""
    img = read_idx(img_path, name=img_name)
    lab = read_idx(lab_path, name=lab_name)
    if img.ndim < 2:
        raise InvalidArgumentError(f"{img_name}: {str(img_path)!r} holds shape {img.shape}; images need at least 2 dimensions")
    if lab.ndim != 1 or lab.dtype.kind not in "iu":
        raise InvalidArgumentError(
            f"{lab_name}: {str(lab_path)!r} holds {lab.dtype} of shape {lab.shape}; labels need one integer per image"
        )
    if len(lab) != len(img):
        raise InvalidArgumentError(
            f"{lab_name}: {str(lab_path)!r} holds {len(lab)} labels but {str(img_path)!r} holds {len(img)} images"
        )
    if lab.size and int(lab.min()) < 0:
        raise InvalidArgumentError(f"{lab_name}: {str(lab_path)!r} holds negative labels (min {int(lab.min())})")
    x = img.reshape(len(img), -1).astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise InvalidArgumentError(f"{img_name}: {str(img_path)!r} holds non-finite pixels")
    return x, lab.astype(np.int64), img.dtype == np.uint8


def load_idx(
    path: str | Path, seed: int = 0, test_fraction: float = 0.25, *, labels: str | Path | None = None
) -> tuple[F64, npt.NDArray[np.int64], F64, npt.NDArray[np.int64]]:
    """MNIST (or any image set) in LeCun's IDX format, flattened, scaled and split like :func:`load_npz`.

    Parameters
    ----------
    path : str or pathlib.Path
        A directory holding ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte`` and
        optionally ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (each may end in
        ``.gz``; the dotted names ``train-images.idx3-ubyte`` of some mirrors are accepted too), or
        one images file.
    seed : int
        Shuffle of the split when there is no test pair.
    test_fraction : float
        Share of the images held out when there is no test pair, in (0, 1).
    labels : str or pathlib.Path, optional
        The labels file of an images file ``path`` (default: the same name with ``images`` →
        ``labels`` and ``idx3`` → ``idx1``). Not used with a directory.

    Returns
    -------
    x_train, y_train, x_test, y_test : ndarray
        Images of shape (k, pixels), float64, in [0, 1]: uint8 files are divided by 255 (the
        format's full scale), other types by the training images' largest absolute value;
        labels int64. The t10k pair, when present, is the test set as given (no shuffle).

    Raises
    ------
    InvalidArgumentError
        Missing files, a test images file without its labels (or the reverse), a malformed IDX file
        (see :func:`read_idx`), images and labels of different counts, non-integer labels.
    """
    if not isinstance(path, (str, Path)):
        raise InvalidTypeError(f"path: expected a str or pathlib.Path, got {type(path).__name__}")
    if labels is not None and not isinstance(labels, (str, Path)):
        raise InvalidTypeError(f"labels: expected a str or pathlib.Path, got {type(labels).__name__}")
    test_fraction = as_float("test_fraction", test_fraction, 0.0, 1.0, lo_open=True, hi_open=True)
    seed = _seed(seed)
    p = Path(path)
    if p.is_dir():
        if labels is not None:
            raise InvalidArgumentError("labels: only used when path is an images file, not a directory")
        found = {k: _find_idx(p, k) for k in _MNIST_FILES}
        tr_img, tr_lab = found["train_images"], found["train_labels"]
        if tr_img is None or tr_lab is None:
            missing = _MNIST_FILES["train_images" if tr_img is None else "train_labels"][0]
            raise InvalidArgumentError(
                f"path: {str(p)!r} has no {missing} (or {missing}.gz); an IDX directory needs the training pair"
            )
        te_img, te_lab = found["test_images"], found["test_labels"]
        if (te_img is None) != (te_lab is None):
            missing = _MNIST_FILES["test_labels" if te_lab is None else "test_images"][0]
            raise InvalidArgumentError(f"path: {str(p)!r} has one file of the t10k test pair but no {missing} (or {missing}.gz)")
        xtr, ytr, u8 = _idx_pair(tr_img, tr_lab, "path", "path")
        test = None if te_img is None or te_lab is None else _idx_pair(te_img, te_lab, "path", "path")[:2]
    else:
        if not p.exists():
            raise InvalidArgumentError(f"path: {str(p)!r} does not exist")
        if labels is None:
            guess = p.name.replace("images", "labels").replace("idx3", "idx1")
            if guess == p.name:
                raise InvalidArgumentError(
                    f"labels: cannot derive the labels file from {p.name!r} (no 'images' or 'idx3' in the name); pass labels="
                )
            labels = p.with_name(guess)
        xtr, ytr, u8 = _idx_pair(p, Path(labels), "path", "labels")
        test = None
    scale = 255.0 if u8 else max(float(np.max(np.abs(xtr))) if xtr.size else 0.0, 1e-12)
    if test is None:
        return _split(xtr / scale, ytr, seed, test_fraction)
    xte, yte = test
    if xte.shape[1] != xtr.shape[1]:
        raise InvalidArgumentError(f"path: test images have {xte.shape[1]} pixels, training images {xtr.shape[1]}")
    return xtr / scale, ytr, xte / scale, yte


def load_dataset(
    dataset: str | Path, seed: int = 0, test_fraction: float = 0.25
) -> tuple[F64, npt.NDArray[np.int64], F64, npt.NDArray[np.int64]]:
    """The data set of the ``spin.nn_phases`` job, by name or path.

    ``"digits"`` is :func:`load_digits`; a directory, or a file that does not start with the zip
    signature, is IDX (:func:`load_idx`); any other file is an ``.npz`` (:func:`load_npz`).
    """
    if isinstance(dataset, str) and dataset == "digits":
        return load_digits(seed, test_fraction)
    if not isinstance(dataset, (str, Path)):
        raise InvalidTypeError(f"dataset: expected 'digits' or a path, got {type(dataset).__name__}")
    p = Path(dataset)
    if p.is_dir():
        return load_idx(p, seed, test_fraction)
    try:
        with open(p, "rb") as f:
            zip_magic = f.read(4) == b"PK\x03\x04"
    except OSError as e:
        raise InvalidArgumentError(f"dataset: cannot read {str(p)!r}: {e}") from None
    return load_npz(p, seed, test_fraction) if zip_magic else load_idx(p, seed, test_fraction)


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

    from .._plot import MARKERS

    files: list[Path] = []
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), layout="constrained")
    for k, tj in enumerate(trajs):
        c = f"C{k}"
        m0, m1 = MARKERS[(2 * k) % len(MARKERS)], MARKERS[(2 * k + 1) % len(MARKERS)]
        pos = tj.steps > 0
        axes[0].loglog(tj.steps[pos], tj.T_c[pos], "-", marker=m0, color=c, ms=4, label=f"{tj.label}: T_c (TAP Hessian)")
        axes[0].loglog(tj.steps[pos], tj.tc_glass[pos], ":", marker=m1, color=c, ms=3, alpha=0.6, label=f"{tj.label}: √λ(J∘J)")
        if tj.fit is not None:
            ts = np.geomspace(tj.fit.window[0], tj.fit.window[1], 50)
            lo, hi = tj.fit.exponent_ci
            axes[0].loglog(
                ts, tj.fit(ts), "--", color=c, lw=1, label=f"{tj.label}: fit ∝ t^{tj.fit.exponent:.2f} [{lo:.2f}, {hi:.2f}]"
            )
        axes[0].axhline(tj.tc_theory_init, color=c, lw=0.6, ls="-.", label=f"{tj.label}: layered-SK theory at init")
        axes[1].semilogx(tj.steps[pos], tj.test_accuracy[pos], "-", marker=m0, color=c, ms=4, label=f"{tj.label}: test accuracy")
        axes[1].semilogx(
            tj.steps[pos], tj.overlap[pos], "--", marker=m1, color=c, ms=3, label=f"{tj.label}: hidden-order overlap"
        )
    axes[0].set_xlabel("training step")
    axes[0].set_ylabel("T_c")
    axes[0].set_title("Critical temperature")
    axes[0].legend(fontsize=7)
    axes[1].set_xlabel("training step")
    axes[1].set_ylabel("test accuracy / overlap")
    axes[1].set_title("Accuracy and overlap |m·v₁|/|m| at 0.7 T_c")
    axes[1].legend(fontsize=7)
    fig.suptitle("Spin models of MLP weight snapshots through training")
    p = out / f"{prefix}_tc_vs_training.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    files.append(p)
    fig, axes = plt.subplots(1, len(trajs), figsize=(5.5 * len(trajs), 4.0), squeeze=False, layout="constrained")
    for ax, tj in zip(axes[0], trajs, strict=True):
        for idx, lab, ls in ((0, "init", "-"), (len(tj.spectra) - 1, f"step {int(tj.steps[-1])}", "--")):
            ax.hist(tj.spectra[idx], bins=80, density=True, histtype="step", linestyle=ls, label=lab)
        ax.set_yscale("log")
        ax.set_xlabel("eigenvalue of J")
        ax.set_ylabel("density")
        ax.set_title(f"{tj.label}: {int(tj.n_outliers[-1])} outliers after training")
        ax.legend(fontsize=8)
    fig.suptitle("Bond spectra of the spin models, at init and after training")
    p = out / f"{prefix}_bond_spectrum.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    files.append(p)
    return files
