"""Reading MNIST in LeCun's IDX format (plain and gzipped) and running the nn_phases job on it.

The files are written here byte by byte with :mod:`struct` from the format's definition (magic
``00 00 <type> <ndim>``, big-endian uint32 sizes, big-endian data), so the truth is what was
written, not something our reader produced.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from boltzkit.cli import main
from boltzkit.errors import InvalidArgumentError, InvalidTypeError
from boltzkit.spin import nn

_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B, np.dtype(np.int32): 0x0C,
          np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}  # fmt: skip


def _idx_bytes(a: npt.NDArray[np.generic]) -> bytes:
    """The IDX encoding of ``a``, written independently of the reader."""
    head = struct.pack(">BBBB", 0, 0, _CODES[a.dtype], a.ndim) + struct.pack(f">{a.ndim}I", *a.shape)
    return head + a.astype(a.dtype.newbyteorder(">")).tobytes()


def _write(p: Path, a: npt.NDArray[np.generic], gz: bool = False) -> Path:
    data = _idx_bytes(a)
    if gz:
        p = p.with_name(p.name + ".gz")
        p.write_bytes(gzip.compress(data))
    else:
        p.write_bytes(data)
    return p


def _images(k: int, seed: int, side: int = 5) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Images whose pixels encode their index and whose label is their index mod 10."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(k, side, side), dtype=np.uint8)
    x[:, 0, 0] = np.arange(k) % 256
    x[:, 0, 1] = np.arange(k) // 256
    return x, (np.arange(k) % 10).astype(np.uint8)


def _mnist_dir(d: Path, n_train: int = 60, n_test: int = 20, gz: bool = False, side: int = 5) -> dict[str, np.ndarray]:
    d.mkdir(parents=True, exist_ok=True)
    xtr, ytr = _images(n_train, 1, side)
    xte, yte = _images(n_test, 2, side)
    _write(d / "train-images-idx3-ubyte", xtr, gz)
    _write(d / "train-labels-idx1-ubyte", ytr, gz)
    _write(d / "t10k-images-idx3-ubyte", xte, gz)
    _write(d / "t10k-labels-idx1-ubyte", yte, gz)
    return {"xtr": xtr, "ytr": ytr, "xte": xte, "yte": yte}


def test_known_header_bytes() -> None:
    """The first bytes of the real MNIST training files, as published (magic 2051 / 2049)."""
    assert _idx_bytes(np.zeros((60000, 28, 28), dtype=np.uint8))[:16] == struct.pack(">IIII", 2051, 60000, 28, 28)
    assert _idx_bytes(np.zeros(60000, dtype=np.uint8))[:8] == struct.pack(">II", 2049, 60000)
    head = struct.pack(">IIII", 2051, 60000, 28, 28)
    assert head == bytes.fromhex("000008030000ea600000001c0000001c")
    assert struct.pack(">II", 2049, 60000) == bytes.fromhex("000008010000ea60")


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_returns_what_was_written(tmp_path: Path, dtype: type, gz: bool) -> None:
    rng = np.random.default_rng(3)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is not None:
        a = rng.integers(info.min, int(info.max) + 1, size=(3, 4, 2), dtype=dtype)
    else:
        a = rng.standard_normal((3, 4, 2)).astype(dtype)
    p = _write(tmp_path / "a-idx3", a, gz)
    got = nn.read_idx(p)
    assert got.shape == (3, 4, 2) and got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, a)
    # one dimension, and a gzip file called without .gz (recognised by content)
    v = np.array([7, 0, 255], dtype=np.uint8)
    q = tmp_path / "v"
    q.write_bytes(gzip.compress(_idx_bytes(v)) if gz else _idx_bytes(v))
    np.testing.assert_array_equal(nn.read_idx(q), v)


@pytest.mark.parametrize("gz", [False, True])
def test_load_idx_directory_keeps_the_given_split(tmp_path: Path, gz: bool) -> None:
    t = _mnist_dir(tmp_path / "mnist", gz=gz)
    xtr, ytr, xte, yte = nn.load_idx(tmp_path / "mnist")
    assert xtr.shape == (60, 25) and xte.shape == (20, 25)
    assert xtr.dtype == np.float64 and ytr.dtype == np.int64
    np.testing.assert_array_equal(xtr, t["xtr"].reshape(60, 25) / 255.0)  # uint8: full scale 255
    np.testing.assert_array_equal(xte, t["xte"].reshape(20, 25) / 255.0)
    np.testing.assert_array_equal(ytr, t["ytr"])
    np.testing.assert_array_equal(yte, t["yte"])
    # str paths and load_dataset's dispatch give the same
    for got, want in zip(nn.load_dataset(str(tmp_path / "mnist")), (xtr, ytr, xte, yte), strict=True):
        np.testing.assert_array_equal(got, want)


def test_load_idx_dotted_names_and_mixed_gzip(tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    xtr, ytr = _images(30, 4)
    xte, yte = _images(8, 5)
    _write(d / "train-images.idx3-ubyte", xtr, gz=True)
    _write(d / "train-labels.idx1-ubyte", ytr)
    _write(d / "t10k-images.idx3-ubyte", xte)
    _write(d / "t10k-labels.idx1-ubyte", yte, gz=True)
    a, b, c, e = nn.load_idx(d)
    np.testing.assert_array_equal(a * 255, xtr.reshape(30, -1))
    np.testing.assert_array_equal(b, ytr)
    np.testing.assert_array_equal(c * 255, xte.reshape(8, -1))
    np.testing.assert_array_equal(e, yte)


def test_load_idx_without_test_pair_splits_and_keeps_labels(tmp_path: Path) -> None:
    d = tmp_path / "m"
    d.mkdir()
    x, y = _images(300, 6)
    _write(d / "train-images-idx3-ubyte", x)
    _write(d / "train-labels-idx1-ubyte", y)
    xtr, ytr, xte, yte = nn.load_idx(d, seed=3, test_fraction=0.2)
    assert len(xtr) == 240 and len(xte) == 60
    # every image is present exactly once, with its own label (the index is encoded in 2 pixels)
    allx = np.vstack([xtr, xte])
    ally = np.concatenate([ytr, yte])
    idx = np.rint(allx[:, 0] * 255).astype(int) + 256 * np.rint(allx[:, 1] * 255).astype(int)
    assert sorted(idx.tolist()) == list(range(300))
    np.testing.assert_array_equal(ally, idx % 10)
    np.testing.assert_array_equal(np.rint(allx * 255).astype(np.uint8), x.reshape(300, -1)[idx])
    # a single images file finds its labels by name, or takes them explicitly
    a = nn.load_idx(d / "train-images-idx3-ubyte", seed=3, test_fraction=0.2)
    b = nn.load_idx(d / "train-images-idx3-ubyte", seed=3, test_fraction=0.2, labels=d / "train-labels-idx1-ubyte")
    for u, v, w in zip(a, b, (xtr, ytr, xte, yte), strict=True):
        np.testing.assert_array_equal(u, w)
        np.testing.assert_array_equal(v, w)


def test_non_uint8_images_are_scaled_by_their_maximum(tmp_path: Path) -> None:
    x = (np.arange(24, dtype=np.float32) - 5).reshape(6, 2, 2)
    _write(tmp_path / "imgs-idx3", x)
    _write(tmp_path / "labs-idx1", np.arange(6, dtype=np.int32))
    xtr, ytr, xte, yte = nn.load_idx(tmp_path / "imgs-idx3", labels=tmp_path / "labs-idx1", test_fraction=0.5)
    allx = np.vstack([xtr, xte])
    order = np.argsort(np.concatenate([ytr, yte]))
    np.testing.assert_allclose(allx[order], x.reshape(6, 4) / 18.0)  # max |x| = 18


def _bad(tmp_path: Path, data: bytes, name: str = "bad-idx3") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_read_idx_rejects_malformed_files(tmp_path: Path) -> None:
    good = _idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    cases = {
        "bad magic": (b"\x08\x03" + good[2:], "magic number 0x0803"),
        "unknown type": (good[:2] + b"\x07" + good[3:], "type code 0x07"),
        "zero dims": (b"\x00\x00\x08\x00", "0 dimensions"),
        "short header": (good[:3], "too short"),
        "truncated header": (good[:9], "truncated inside its header"),
        "truncated data": (good[:-1], "truncated"),
        "trailing bytes": (good + b"\x00", "bytes after"),
        "empty": (b"", "too short"),
    }
    for label, (data, msg) in cases.items():
        with pytest.raises(InvalidArgumentError, match=rf"^path: .*{msg}") as ei:
            nn.read_idx(_bad(tmp_path, data))
        assert "bad-idx3" in str(ei.value), label
    # truncated and corrupt gzip
    z = gzip.compress(good)
    with pytest.raises(InvalidArgumentError, match=r"^path: .*(truncated|cannot be read)"):
        nn.read_idx(_bad(tmp_path, z[: len(z) // 2]))
    with pytest.raises(InvalidArgumentError, match=r"^path: .*cannot be read"):
        nn.read_idx(_bad(tmp_path, z[:10] + bytes(b ^ 0xFF for b in z[10:])))
    # a gzip whose content is truncated IDX
    with pytest.raises(InvalidArgumentError, match=r"^path: .*truncated"):
        nn.read_idx(_bad(tmp_path, gzip.compress(good[:-5])))
    with pytest.raises(InvalidArgumentError, match=r"^path: .*does not exist"):
        nn.read_idx(tmp_path / "nope")
    with pytest.raises(InvalidArgumentError, match=r"^path: .*is a directory"):
        nn.read_idx(tmp_path)
    with pytest.raises(InvalidTypeError, match=r"^path: "):
        nn.read_idx(3)  # type: ignore[arg-type]


def test_load_idx_error_paths(tmp_path: Path) -> None:
    d = tmp_path / "m"
    t = _mnist_dir(d)
    # image / label count mismatch
    _write(d / "t10k-labels-idx1-ubyte", t["yte"][:-1])
    with pytest.raises(InvalidArgumentError, match=r"^path: .*19 labels but .* 20 images"):
        nn.load_idx(d)
    # missing test labels while test images exist
    (d / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(InvalidArgumentError, match=r"^path: .*t10k-labels-idx1-ubyte"):
        nn.load_idx(d)
    # missing training labels
    (d / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(InvalidArgumentError, match=r"^path: .*train-labels-idx1-ubyte"):
        nn.load_idx(d)
    (tmp_path / "e").mkdir()
    with pytest.raises(InvalidArgumentError, match=r"^path: .*train-images-idx3-ubyte"):
        nn.load_idx(tmp_path / "e")
    # labels that are not one integer per image
    e = tmp_path / "f"
    _mnist_dir(e)
    _write(e / "train-labels-idx1-ubyte", np.zeros(60, dtype=np.float32))
    with pytest.raises(InvalidArgumentError, match=r"^path: .*labels need one integer per image"):
        nn.load_idx(e)
    _write(e / "train-labels-idx1-ubyte", np.zeros((60, 1), dtype=np.uint8))
    with pytest.raises(InvalidArgumentError, match=r"^path: .*labels need one integer per image"):
        nn.load_idx(e)
    # images file with one dimension
    _write(e / "train-images-idx3-ubyte", np.zeros(60, dtype=np.uint8))
    with pytest.raises(InvalidArgumentError, match=r"^path: .*at least 2 dimensions"):
        nn.load_idx(e)
    # a corrupt file inside the directory names it
    (e / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03\x00")
    with pytest.raises(InvalidArgumentError, match=r"^path: .*train-images-idx3-ubyte.*truncated"):
        nn.load_idx(e)
    # a lone images file whose labels cannot be found
    f = _write(tmp_path / "pics", np.zeros((5, 2, 2), dtype=np.uint8))
    with pytest.raises(InvalidArgumentError, match=r"^labels: "):
        nn.load_idx(f)
    g = _write(tmp_path / "x-images-idx3", np.zeros((5, 2, 2), dtype=np.uint8))
    with pytest.raises(InvalidArgumentError, match=r"^labels: .*x-labels-idx1.*does not exist"):
        nn.load_idx(g)
    with pytest.raises(InvalidArgumentError, match=r"^labels: only used"):
        nn.load_idx(d, labels=g)
    with pytest.raises(InvalidArgumentError, match=r"^path: .*does not exist"):
        nn.load_idx(tmp_path / "nowhere")
    with pytest.raises(InvalidArgumentError, match=r"^test_fraction: "):
        nn.load_idx(e, test_fraction=1.5)
    with pytest.raises(InvalidTypeError, match=r"^path: "):
        nn.load_idx(None)  # type: ignore[arg-type]


def test_keras_npz_is_read_by_load_dataset(tmp_path: Path) -> None:
    """Keras' ``mnist.npz`` layout (uint8 images (k, 28, 28), uint8 labels) through the job's loader."""
    x, y = _images(40, 7, side=28)
    np.savez(tmp_path / "mnist.npz", x_train=x[:30], y_train=y[:30], x_test=x[30:], y_test=y[30:])
    xtr, ytr, _, yte = nn.load_dataset(tmp_path / "mnist.npz")
    np.testing.assert_array_equal(xtr * x[:30].max(), x[:30].reshape(30, -1).astype(np.float64))
    np.testing.assert_array_equal(yte, y[30:])
    assert ytr.dtype == np.int64


def test_nn_phases_job_on_an_idx_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    d = tmp_path / "mnist"
    d.mkdir()
    x = rng.integers(0, 256, size=(160, 4, 4), dtype=np.uint8)
    y = (x.reshape(160, -1).astype(np.int64).sum(1) > 16 * 127).astype(np.uint8)
    _write(d / "train-images-idx3-ubyte", x[:120], gz=True)
    _write(d / "train-labels-idx1-ubyte", y[:120], gz=True)
    _write(d / "t10k-images-idx3-ubyte", x[120:], gz=True)
    _write(d / "t10k-labels-idx1-ubyte", y[120:], gz=True)
    job = tmp_path / "job.toml"
    job.write_text(
        f'type = "spin.nn_phases"\n[params]\ndataset = "{d}"\nhidden = [6]\nactivations = ["tanh", "sign"]\n'
        "steps = 40\nn_snapshots = 4\n"
    )
    assert main(["run", str(job), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    rows = (tmp_path / "out" / "nn_phases.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 4
    head = rows[0].split(",")
    acc = [float(r.split(",")[head.index("test_acc")]) for r in rows[1:]]
    # accuracy is measured on the 40 t10k images: a multiple of 1/40
    assert all(abs(a * 40 - round(a * 40)) < 1e-9 for a in acc)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08")
    job.write_text(f'type = "spin.nn_phases"\n[params]\ndataset = "{bad}"\nsteps = 10\n')
    capsys.readouterr()
    assert main(["run", str(job), "--out", str(tmp_path / "out2"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("boltzkit: error:") and "train-labels-idx1-ubyte" in err, err
