"""``boltzkit demo``: a short tour of every module, with tables and PNG plots."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from boltzkit._table import format_table

__all__ = ["SECTIONS", "run_demo"]


def _fpentropy(out: Path, quick: bool, progress: bool | None) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import ml_dtypes
    from scipy import stats

    from boltzkit import fpentropy as fp

    files: list[Path] = []
    print("== fpentropy: the entropy of floating-point numbers ==\n")
    # 1. N(0,1) in every format
    rows: list[list[object]] = []
    errors: list[tuple[str, float, float]] = []
    names = [n for n in fp.FORMATS if n not in ("float8_e4m3", "float8_e3m4", "float8_e4m3b11fnuz")]
    for name in names:
        t0 = time.perf_counter()
        e = fp.entropy(stats.norm(), name)
        dt = time.perf_counter() - t0
        a = fp.approx_entropy(stats.norm(), name)
        f = fp.get_format(name)
        rows.append(
            [name, f.precision, e.bits, f.max_entropy, e.method, f"{dt * 1e3:.1f}", a.paper, a.refined, e.bits - a.refined]
        )
        errors.append((name.replace("float", "f"), abs(e.bits - a.paper), abs(e.bits - a.refined)))
    print(
        format_table(
            ["format", "p", "H exact", "log2(#codes)", "method", "ms", "p-1/2+K", "refined", "H-refined"],
            rows,
            "Entropy (bits) of N(0,1) rounded to each format; paper = p - 1/2 + K, K = 2.9635",
        )
    )
    print()
    # 2. closed forms of K against quadrature
    laws = [
        ("norm", stats.norm()),
        ("laplace", stats.laplace()),
        ("logistic", stats.logistic()),
        ("expon", stats.expon()),
        ("gamma(2.5)", stats.gamma(2.5)),
        ("t(4.5)", stats.t(4.5)),
        ("cauchy", stats.cauchy()),
        ("beta(2,3)", stats.beta(2, 3)),
    ]
    rows = []
    for label, d in laws:
        k = fp.closed_form_k(d)
        kq = fp.approx_entropy(d, "float32", native=False).terms.k
        rows.append([label, k, kq, k - kq, k - 0.5])
    print(
        format_table(["law", "K closed form", "K quadrature (scipy)", "difference", "H~ - p"], rows, "Closed forms of K (bits)")
    )
    print()
    # 3. scale invariance and wobble
    n = 33 if quick else 129
    scales = 2.0 ** np.linspace(-2, 2, n)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, name in zip(axes, ["bfloat16", "float8_e4m3fn"], strict=True):
        sw = fp.entropy_vs_scale(stats.norm(), name, scales, progress=progress)
        sw.plot(ax)
        k = (n - 1) // 4
        print(
            f"{name}: H(2^k X) - H(X) for k = -2..2: "
            + ", ".join(f"{sw.exact[i] - sw.exact[2 * k]:+.1e}" for i in range(0, n, k))
            + f"; wobble amplitude {np.ptp(sw.exact) / 2:.2e} bits"
        )
    fig.suptitle("Exact entropy of σ·N(0,1) minus the paper's approximation: periodic in log2 σ")
    fig.tight_layout()
    p = out / "fpentropy_scale_wobble.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    files.append(p)
    print()
    # 4. empirical bits per value of 'weights'
    rng = np.random.default_rng(0)
    w = (0.02 * rng.standard_normal(200_000 if quick else 2_000_000)).astype(np.float32)
    rows = []
    dtypes: list[np.dtype[Any]] = [np.dtype(np.float32), np.dtype(ml_dtypes.bfloat16), np.dtype(np.float16)]
    dtypes.append(np.dtype(ml_dtypes.float8_e4m3fn))
    for dty in dtypes:
        arr = w.astype(dty)
        r = fp.empirical_entropy(arr)
        exact = fp.entropy(stats.norm(scale=0.02), dty.name).bits
        rows.append(
            [
                dty.name,
                r.n,
                r.bits_per_value,
                exact,
                r.sign_bits,
                r.exponent_bits,
                r.mantissa_bits_given_exp,
                r.ideal_ratio,
            ]
        )
    print(
        format_table(
            ["dtype", "n", "bits/value", "exact H", "sign", "exponent", "mantissa|exp", "ideal ratio"],
            rows,
            "Empirical entropy of N(0, 0.02²) 'weights' (plug-in estimate; below exact when samples are few)",
        )
    )
    # 5. how good is the approximation, format by format
    fig, ax = plt.subplots(figsize=(8, 4))
    labels = [lab for lab, _, _ in errors]
    err_paper = [ep for _, ep, _ in errors]
    err_refined = [er for _, _, er in errors]
    xs = np.arange(len(labels))
    ax.bar(xs - 0.2, err_paper, 0.4, label="|H − (p − 1/2 + K)|  (paper)")
    ax.bar(xs + 0.2, err_refined, 0.4, label="|H − refined|  (≈ |wobble|)")
    ax.set_yscale("log")
    ax.set_xticks(xs, labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("bits")
    ax.set_title("Error of the approximations for N(0,1), by format")
    ax.legend(fontsize=8)
    fig.tight_layout()
    p = out / "fpentropy_approximation_error.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    files.append(p)
    print()
    return files


def _hmc(out: Path, quick: bool, progress: bool | None) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from boltzkit import hmc

    print("== hmc: Markov-jump HMC against look-ahead HMC, HMC and continuous-time HMC ==\n")
    n_chains, n_samples = (20, 2000) if quick else (100, 8000)
    # the papers' shared settings (eps 1, M 10, beta 0.1, K 4); mjhmc and its control also with the
    # MJHMC authors' tuned settings
    cases: list[tuple[str, hmc.BuiltinTarget, dict[str, dict[str, Any]]]] = [
        (
            "Gaussian, d = 2, condition 1e6",
            hmc.GaussianAniso(dim=2, log10_cond=6),
            {"mjhmc (tuned)": {"step_size": 1.458, "n_leapfrog": 25, "beta": 0.01},
             "ct_hmc (tuned)": {"step_size": 0.851, "n_leapfrog": 25, "beta": 0.0113}},
        ),
        (
            "rough well, d = 2",
            hmc.RoughWell(dim=2),
            {"mjhmc (tuned)": {"step_size": 3.0, "n_leapfrog": 25, "beta": 0.0123},
             "ct_hmc (tuned)": {"step_size": 0.592, "n_leapfrog": 25, "beta": 0.43}},
        ),
    ]  # fmt: skip
    files: list[Path] = []
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for (title, target, tuned), ax in zip(cases, axes, strict=True):
        rows: list[list[object]] = []
        runs: dict[str, dict[str, Any]] = {m: {"step_size": 1.0, "n_leapfrog": 10, "beta": 0.1} for m in hmc.METHODS}
        runs.update(tuned)
        for label, kw in runs.items():
            method = label.split()[0]
            tr = hmc.sample(target, method=method, n_samples=n_samples, n_chains=n_chains, x0="exact", seed=1,  # type: ignore[arg-type]
                            look_ahead=4, progress=progress, **kw)  # fmt: skip
            s = tr.summary()
            moves = " ".join(f"{k}:{v:.2f}" for k, v in tr.move_fractions.items())
            rows.append([label, s["ess_per_grad_x_min"], s["ess_per_grad_x2_min"], s["grads_to_ac_0.5"],
                         s["grads_per_draw"], moves, f"{tr.wall_time:.2f}"])  # fmt: skip
            tr.plot_autocorr(ax, label=label)
        print(
            format_table(
                ["sampler", "ESS/grad x", "ESS/grad x²", "grads to AC 0.5", "grads/draw", "moves", "s"],
                rows,
                f"{title}: {n_chains} chains × {n_samples} iterations from exact draws (worst coordinate)",
            )
        )
        print()
        ax.set_title(title)
        ax.set_xlim(0, None)
        ax.legend(fontsize=7)
    fig.suptitle("Autocorrelation of x against gradient evaluations (lower is better)")
    fig.tight_layout()
    p = out / "hmc_autocorrelation.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    files.append(p)
    return files


#: Demo sections, one per module: ``name -> function(out, quick, progress) -> files``.
SECTIONS: dict[str, Callable[[Path, bool, bool | None], list[Path]]] = {"fpentropy": _fpentropy, "hmc": _hmc}


def run_demo(out: Path, *, quick: bool = False, sections: list[str] | None = None, progress: bool | None = None) -> list[Path]:
    """Run the demo sections, writing PNG plots to ``out``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    for name in sections or list(SECTIONS):
        files.extend(SECTIONS[name](out, quick, progress))
    print("Plots written:")
    for f in files:
        print(f"  {f}")
    return files
