"""TOML job types of the fpentropy module (see :mod:`boltzkit.jobs`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from boltzkit import fpentropy as fp
from boltzkit._progress import track
from boltzkit._validate import check_bytes
from boltzkit.errors import BoltzkitError
from boltzkit.jobs import ConfigError, JobResult, Table, write_rows


def parse_dist(t: Table) -> Any:
    """A frozen scipy law from ``{law = "t", df = 4.5, loc = 0, scale = 1}``."""
    from scipy import stats

    name = t.get_str("law")
    gen = getattr(stats, name, None)
    if not isinstance(gen, stats.rv_continuous):
        raise ConfigError(f"{t.path}.law: {name!r} is not a scipy.stats continuous distribution")
    shapes = [s.strip() for s in gen.shapes.split(",")] if gen.shapes else []
    kw = {s: t.get_float(s) for s in shapes}
    kw["loc"] = t.get_float("loc", 0.0)
    kw["scale"] = t.get_float("scale", 1.0, positive=True)
    t.done()
    return gen(**kw)


def _dists(p: Table, key: str = "dists") -> list[Any]:
    out = []
    for i, d in enumerate(p.get_list(key)):
        if not isinstance(d, dict):
            raise ConfigError(f'{p.path}.{key}[{i}]: expected a table like {{law = "norm"}}, got {d!r}')
        out.append(parse_dist(Table(d, f"{p.path}.{key}[{i}]")))
    return out


def _formats(p: Table, key: str = "formats") -> list[fp.FloatFormat]:
    out = []
    for i, f in enumerate(p.get_list(key)):
        try:
            out.append(fp.get_format(f))
        except BoltzkitError as e:
            raise ConfigError(f"{p.path}.{key}[{i}]: {e}") from None
    return out


def run_entropy(p: Table, out: Path, threads: int | None, progress: bool | None) -> JobResult:
    """Exact entropy, approximation and bound for every (law, format)."""
    formats = _formats(p)
    dists = _dists(p)
    merge_zero = p.get_bool("merge_zero", False)
    p.done()
    rows: list[list[Any]] = []
    pairs = [(d, f) for d in dists for f in formats]
    for d, f in track(pairs, total=len(pairs), desc="entropy", progress=progress):
        t0 = time.perf_counter()
        e = fp.entropy(d, f, merge_zero=merge_zero, threads=threads)
        dt = time.perf_counter() - t0
        a = fp.approx_entropy(d, f, merge_zero=merge_zero, threads=threads)
        rows.append([e.dist, f.name, e.bits, e.method, e.error_estimate, a.paper, a.refined, a.bound, e.bits - a.refined, dt])
    headers = ["dist", "format", "H_bits", "method", "err_est", "paper", "refined", "bound", "H-refined", "time_s"]
    table, path = write_rows(out, "entropy", headers, rows, "Exact entropy and approximations")
    return JobResult([table], [path])


def run_scale_sweep(p: Table, out: Path, threads: int | None, progress: bool | None) -> JobResult:
    """Entropy of c·X for c = 2^t, t on a grid; writes a CSV and a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dist = parse_dist(p.get_table("dist"))
    fmts = _formats(p)
    lo = p.get_float("log2_min", -2.0)
    hi = p.get_float("log2_max", 2.0)
    n = p.get_int("n", 33, lo=2, hi=100_000)
    p.done()
    for key, v in (("log2_min", lo), ("log2_max", hi)):
        if not -1000.0 <= v <= 1000.0:
            raise ConfigError(f"{p.path}.{key}: must be between -1000 and 1000 (a scale 2**{key} within float64), got {v}")
    if hi <= lo:
        raise ConfigError(f"{p.path}.log2_max: must be > log2_min = {lo}, got {hi}")
    scales = 2.0 ** np.linspace(lo, hi, n)
    tables, files = [], []
    fig, axes = plt.subplots(len(fmts), 1, figsize=(7, 3.2 * len(fmts)), squeeze=False, layout="constrained")
    for f, ax in zip(fmts, axes[:, 0], strict=True):
        sw = fp.entropy_vs_scale(dist, f, scales, progress=progress, threads=threads)
        sw.plot(ax)
        rows = [
            [float(c), float(h), float(pa), float(r), float(w), float(b)]
            for c, h, pa, r, w, b in zip(sw.scales, sw.exact, sw.paper, sw.refined, sw.wobble, sw.bound, strict=True)
        ]
        headers = ["scale", "H_bits", "paper", "refined", "wobble", "bound"]
        t, path = write_rows(out, f"scale_sweep_{f.name}", headers, rows, f"Entropy vs scale, {sw.dist} in {f.name}")
        tables.append(t)
        files.append(path)
    png = out / "scale_sweep.png"
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return JobResult(tables, [*files, png])


def run_empirical(p: Table, out: Path, threads: int | None, progress: bool | None) -> JobResult:
    """Empirical bits per value of arrays loaded from .npy files or sampled from laws."""
    import ml_dtypes  # noqa: F401  (registers the ml_dtypes dtypes with numpy)

    files = [str(f) for f in p.get_list("files")] if "files" in p.data else []
    formats = _formats(p) if "formats" in p.data else [fp.get_format("float32")]
    dists = _dists(p) if "dists" in p.data else []
    n = p.get_int("n", 1_000_000, lo=1, hi=2_000_000_000)
    seed = p.get_int("seed", 0, lo=0, hi=2**64 - 1)
    p.done()
    # samples (float64), their quantized values (float64) and the codes (up to 8 bytes) per format
    check_bytes(f"{p.path}.n", n * (8 + 16 * len(formats)) * max(len(dists), 1), f"{len(dists)} laws x {n} samples")
    if not files and not dists:
        raise ConfigError(f"{p.path}: give 'files' (paths to .npy arrays) or 'dists' to sample from")
    rows: list[list[Any]] = []
    arrays: list[tuple[str, np.ndarray[Any, Any]]] = []
    for i, name in enumerate(files):
        try:
            arrays.append((name, np.ascontiguousarray(np.load(name, allow_pickle=False))))
        except (OSError, ValueError) as e:
            raise ConfigError(f"{p.path}.files[{i}]: cannot load {name!r}: {e}") from None
    rng = np.random.default_rng(seed)
    for d in dists:
        x = d.rvs(size=n, random_state=rng)
        for f in formats:
            arrays.append((f"{d.dist.name} -> {f.name}", fp.quantize(x, f).astype(_dtype_of(f))))
    for label, a in track(arrays, total=len(arrays), desc="empirical", progress=progress):
        r = fp.empirical_entropy(a, threads=threads)
        rows.append([label, r.fmt, r.n, r.n_distinct, r.bits_per_value, r.sign_bits, r.exponent_bits,
                     r.mantissa_bits_given_exp, r.ideal_ratio])  # fmt: skip
    headers = ["array", "format", "n", "distinct", "bits/value", "sign", "exponent", "mantissa|exp", "ideal_ratio"]
    table, path = write_rows(out, "empirical", headers, rows, "Empirical entropy")
    return JobResult([table], [path])


def _dtype_of(f: fp.FloatFormat) -> Any:
    import ml_dtypes

    if f.name in ("float16", "float32", "float64"):
        return np.dtype(f.name)
    dt = getattr(ml_dtypes, f.name, None)
    if dt is None:
        raise ConfigError(f"formats: {f.name} has no numpy/ml_dtypes dtype to store samples in")
    return dt
