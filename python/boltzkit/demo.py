"""``boltzkit demo``: a short tour of every module, with tables and PNG plots."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

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
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), layout="constrained")
    for ax, name in zip(axes, cast("list[fp.FormatName]", ["bfloat16", "float8_e4m3fn"]), strict=True):
        sw = fp.entropy_vs_scale(stats.norm(), name, scales, progress=progress)
        sw.plot(ax)
        k = (n - 1) // 4
        print(
            f"{name}: H(2^k X) - H(X) for k = -2..2: "
            + ", ".join(f"{sw.exact[i] - sw.exact[2 * k]:+.1e}" for i in range(0, n, k))
            + f"; wobble amplitude {np.ptp(sw.exact) / 2:.2e} bits"
        )
    fig.suptitle("Exact entropy of σ·N(0,1) minus the paper's approximation: periodic in log2 σ")
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
        exact = fp.entropy(stats.norm(scale=0.02), cast("fp.FormatName", dty.name)).bits
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
    fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    labels = [lab for lab, _, _ in errors]
    err_paper = [ep for _, ep, _ in errors]
    err_refined = [er for _, _, er in errors]
    xs = np.arange(len(labels))
    ax.bar(xs - 0.2, err_paper, 0.4, label="|H − (p − 1/2 + K)|  (paper)")
    ax.bar(xs + 0.2, err_refined, 0.4, label="|H − refined|  (≈ |wobble|)")
    ax.set_yscale("log")
    ax.set_xticks(xs, labels, rotation=45, ha="right", fontsize=8)
    ax.set_xlabel("format")
    ax.set_ylabel("|error| (bits)")
    ax.set_title("Error of the approximations for N(0,1), by format")
    ax.legend(fontsize=8)
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
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), layout="constrained")
    for (title, target, tuned), ax in zip(cases, axes, strict=True):
        rows: list[list[object]] = []
        runs: dict[str, dict[str, Any]] = {
            m: {"step_size": 1.0, "n_leapfrog": 10, "beta": 0.1} for m in hmc.METHODS if m != "nuts"
        }
        runs.update(tuned)
        for label, kw in runs.items():
            method = label.split()[0]
            tr = hmc.sample(target, method=method, n_samples=n_samples, n_chains=n_chains, x0="exact", seed=1,  # type: ignore[arg-type]
                            look_ahead=4, progress=progress, **kw)  # fmt: skip
            s = tr.efficiency()
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
    p = out / "hmc_autocorrelation.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    files.append(p)
    return files


def _spin(out: Path, quick: bool, progress: bool | None) -> list[Path]:
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from boltzkit import spin as sp

    files: list[Path] = []
    print("== spin: Ising models of networks, annealing, tempering, TAP, MPF ==\n")
    # 1. exact enumeration
    n_ex = 18 if quick else 22
    m = sp.sk(n_ex, seed=1)
    betas = np.array([0.5, 1.0, 2.0, 3.0])
    ex = m.enumerate_exact(betas, correlations=True, overlap_distribution=True)
    rows: list[list[object]] = [
        [float(b), ex.ln_z[k], ex.mean_energy[k] / n_ex, ex.heat_capacity[k] / n_ex, ex.mean_q2[k]] for k, b in enumerate(betas)
    ]
    print(format_table(["β", "ln Z", "<E>/N", "C/N", "<q²>"], rows, f"Exact enumeration of SK, N = {n_ex} ({ex.seconds:.2f} s)"))
    print(f"ground state e/N = {ex.ground_energy / n_ex:.5f}, degeneracy {ex.degeneracy}\n")
    from boltzkit._plot import MARKERS

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), layout="constrained")
    for k, b in enumerate(betas):
        axes[0].plot(ex.q_values, ex.pq[k], "-", marker=MARKERS[k], ms=3, label=f"β = {b:g}")
    axes[0].set_xlabel("q")
    axes[0].set_ylabel("P(q)")
    axes[0].set_title(f"Exact two-replica P(q), SK N = {n_ex}")
    axes[0].legend(fontsize=8)
    # 2. 2-D Ising with tempering against Onsager
    L = 16 if quick else 32
    lat = sp.lattice_2d(L)
    ts = np.linspace(1.6, 3.2, 12)
    pt = lat.tempering(1 / ts, 2000 if quick else 20000, n_sets=2, seed=0)
    e, de = pt.mean_energy()
    am, dam = pt.mean_abs_m()
    tt = np.linspace(1.0, 3.4, 400)
    from scipy.special import ellipk

    k2 = (2 * np.sinh(2 / tt) / np.cosh(2 / tt) ** 2) ** 2
    u = -1 / np.tanh(2 / tt) * (1 + 2 / np.pi * (2 * np.tanh(2 / tt) ** 2 - 1) * ellipk(k2))
    mag = np.where(tt < 2 / math.log(1 + math.sqrt(2)), np.abs(1 - np.sinh(2 / tt) ** -4) ** 0.125, 0.0)
    axes[1].plot(tt, u, "k-", lw=1, label="Onsager e(T)")
    axes[1].errorbar(ts, e / L**2, de / L**2, fmt="o", ms=3, label=f"PT, L = {L}")
    axes[1].plot(tt, mag, "k--", lw=1, label="Yang m(T)")
    axes[1].errorbar(ts, am, dam, fmt="s", ms=3, label="PT ⟨|m|⟩")
    axes[1].set_xlabel("T")
    axes[1].set_ylabel("energy per spin e, magnetisation |m|")
    axes[1].set_title("2-D Ising: tempering vs exact")
    axes[1].legend(fontsize=7)
    # 3. annealing SK
    n_sk = 500 if quick else 1000
    sk = sp.sk(n_sk, seed=0)
    rows = []
    sweeps = [100, 1000] if quick else [100, 1000, 10000]
    for ns in sweeps:
        r = sk.anneal(4, ns, seed=1, threads=None)
        rows.append([ns, r.best_energy / n_sk, float(np.median(r.energies)) / n_sk, r.seconds, r.flips_per_ns()])
    quench = sk.descend(np.random.default_rng(0).choice([-1, 1], size=(8, n_sk)))
    rows.append(["greedy quench", float(quench.energies.min()) / n_sk, float(np.median(quench.energies)) / n_sk, "", ""])
    print(
        format_table(
            ["sweeps", "best e/N", "median e/N", "s", "flips/ns"],
            rows,
            f"Simulated annealing, SK N = {n_sk}, default β range {tuple(round(b, 3) for b in sk.default_beta_range())}; "
            f"Parisi e0 = -0.7633, finite-N ≈ {-0.7633 + 0.7 * n_sk ** (-2 / 3):.3f}",
        )
    )
    print()
    r = sk.anneal(4, sweeps[-1], seed=1, trace=True)
    tr_lines = axes[2].plot(np.arange(1, r.trace.shape[1] + 1), r.trace.T / n_sk, lw=0.8)
    tr_lines[0].set_label(f"{len(tr_lines)} reads")
    axes[2].axhline(-0.7633, color="k", ls=":", label="Parisi e0")
    axes[2].set_xscale("log")
    axes[2].set_xlabel("sweep")
    axes[2].set_ylabel("E/N")
    axes[2].set_title(f"Annealing SK N = {n_sk}, 4 reads")
    axes[2].legend(fontsize=8)
    p = out / "spin_exact_ising_anneal.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    files.append(p)
    # 4. MPF vs PL
    truth = sp.sk(16, seed=3, h_std=0.1)
    states = ((np.arange(2**16)[:, None] >> np.arange(16)) & 1) * 2 - 1
    pr = np.exp(-(truth.energy(states) + truth.enumerate_exact([1.0]).ln_z[0]))
    rng = np.random.default_rng(0)
    rows = []
    for b in [1000, 10000] if quick else [1000, 10000, 100000]:
        data = states[rng.choice(len(states), size=b, p=pr / pr.sum())]
        for name, fn in (("MPF", sp.fit_mpf), ("pseudolikelihood", sp.fit_pseudolikelihood)):
            f = fn(data)
            rows.append([name, b, sp.coupling_rmse(f.model, truth), f.n_iter, f.seconds])
    print(format_table(["method", "samples", "J rmse", "iters", "s"], rows, "Fitting an N = 16 SK model from exact samples"))
    print()
    # 5. the paper's experiment
    try:
        data_nn = sp.nn.load_digits(0)
    except Exception as e:  # scikit-learn missing
        print(f"(skipping the network experiment: {e})\n")
        return files
    trajs = []
    for act in ("tanh", "sign"):
        cfg = sp.nn.TrainConfig(hidden=(32, 32) if quick else (64, 64), activation=act, steps=300 if quick else 3000,
                                n_snapshots=6 if quick else 12, lr=3e-3 if act == "sign" else 1e-3)  # fmt: skip
        tr = sp.nn.train_mlp(*data_nn, cfg, progress=progress)
        trajs.append(sp.nn.analyse_training(tr, progress=progress))
    rows = []
    for tj in trajs:
        for k in range(len(tj.steps)):
            rows.append([tj.label, int(tj.steps[k]), tj.T_c[k], tj.tc_glass[k], tj.T_hidden[k], int(tj.n_outliers[k]),
                         tj.hidden_p[k], tj.overlap[k], tj.test_accuracy[k]])  # fmt: skip
    print(
        format_table(
            ["net", "step", "T_c", "√λ(J∘J)", "T_hidden", "outliers", "hidden-order p", "overlap", "test acc"],
            rows,
            f"MLPs on 8x8 digits mapped to spin models (layered-SK theory at init: T_c = {trajs[0].tc_theory_init:.3f})",
        )
    )
    for tj in trajs:
        if tj.fit is not None:
            lo, hi = tj.fit.exponent_ci
            print(f"{tj.label}: T_c ∝ t^{tj.fit.exponent:.3f} (95% CI [{lo:.3f}, {hi:.3f}]) over steps {tj.fit.window}")
    print()
    files.extend(sp.nn.plot_trajectories(trajs, out))
    return files


def _mlp(out: Path, quick: bool, progress: bool | None) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from boltzkit import mlp

    files: list[Path] = []
    print("== mlp: expected outputs of wide random MLPs without sampling, at equal FLOPs ==\n")
    # 1. equal-FLOPs comparison, ReLU He, depth 4 (3 hidden layers)
    widths = [32, 64] if quick else [64, 128, 256]
    comps = []
    rows: list[list[object]] = []
    for w in widths:
        net = mlp.random_mlp([w] * 5, act="relu", seed=w)
        c = mlp.compare_equal_flops(net, ["mean_prop", "cov_prop"], truth_samples=2**16 if quick else 2**20, seed=1)
        comps.append(c)
        for r in c.rows:
            rows.append([w, r["method"], r["mse_over_var"], r["flops"], mlp.speedup_text(r), "yes" if r["truth_limited"] else ""])
    print(
        format_table(
            ["width", "method", "MSE/Var", "FLOPs", "speedup vs MC", "truth-limited"],
            rows,
            "ReLU He, depth 4 (≥: truth-limited, the Monte Carlo truth cannot resolve the error, so only a lower bound)",
        )
    )
    fig = mlp.plot_mse_vs_flops(comps)
    fig.axes[0].set_title("ReLU He, depth 4: MC line vs estimator points")
    png = out / "mlp_mse_vs_flops.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    files.append(png)
    # 2. rare events: P(y > t) ~ 1e-6
    net = mlp.random_mlp([16, 32, 32, 1], act="relu", b_var=0.1, seed=3)
    est = net.estimate("cov_prop")
    t = float(est.mean[0] + 4.75 * np.sqrt(est.variances[-1][0]))
    truth = net.tail_probability(threshold=t, method="is", neuron=0, n_samples=2**16 if quick else 2**19, seed=99)
    n_mc = 20_000
    rows = []
    for m in ("gauss", "edgeworth", "is", "mc"):
        p = net.tail_probability(threshold=t, method=m, neuron=0, n_samples=n_mc, seed=5)
        hits = "" if p.hits is None else str(int(p.hits[0]))
        rows.append([m, float(p.p[0]), float(p.log_error(truth.p)[0]), p.flops, hits])
    print(
        format_table(
            ["method", "P(y > t)", "|log P/P_true|", "FLOPs", "MC hits"],
            rows,
            f"Rare event, t = {t:.3f}, IS truth {truth.p[0]:.3e}",
        )
    )
    # 3. training against a rare event with the gradient of the Gaussian tail estimate
    net = mlp.random_mlp([8, 32, 32, 1], act="relu", b_var=0.1, seed=4)
    est = net.estimate("cov_prop")
    t = float(est.mean[0] + 3.0 * np.sqrt(est.variances[-1][0]))
    hist = []
    for _ in range(200):
        g = net.tail_gradient(t)
        hist.append(g.value)
        if g.value < 1e-6:  # stop once the estimate says "one in a million"
            break
        # normalised step on log P
        scale = max(float(np.abs(d).max()) for d in g.d_weights) / g.value
        lr = 0.005 / scale / g.value
        net = net.replace(weights=[w - lr * d for w, d in zip(net.weights, g.d_weights, strict=True)])
    final_is = net.tail_probability(threshold=t, method="is", neuron=0, n_samples=2**15, seed=7)
    final_mc = net.tail_probability(threshold=t, method="mc", neuron=0, n_samples=20_000, seed=7)
    assert final_mc.hits is not None
    print(
        f"training ({len(hist) - 1} steps): Gaussian tail estimate {hist[0]:.2e} -> {hist[-1]:.2e}; "
        f"IS check {final_is.p[0]:.2e} ± {final_is.stderr[0] if final_is.stderr is not None else 0:.1e}; "
        f"plain MC with 20000 samples sees {int(final_mc.hits[0])} events\n"
    )
    fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
    ax.semilogy(hist, "o-", ms=3, label="cov_prop Gaussian tail")
    ax.axhline(float(final_is.p[0]), color="k", ls="--", label="IS check (final)")
    ax.set_xlabel("gradient step")
    ax.set_ylabel("P(y > t)")
    ax.set_title("Training against a rare event")
    ax.legend()
    png = out / "mlp_rare_event_training.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)
    files.append(png)
    return files


#: Demo sections, one per module: ``name -> function(out, quick, progress) -> files``.
SECTIONS: dict[str, Callable[[Path, bool, bool | None], list[Path]]] = {
    "fpentropy": _fpentropy,
    "hmc": _hmc,
    "spin": _spin,
    "mlp": _mlp,
}


def run_demo(out: Path, *, quick: bool = False, sections: list[str] | None = None, progress: bool | None = None) -> list[Path]:
    """Run the demo sections, writing PNG plots to ``out``; returns the files written."""
    from boltzkit._validate import out_folder

    out = out_folder("out", out)
    files: list[Path] = []
    for name in sections or list(SECTIONS):
        files.extend(SECTIONS[name](out, quick, progress))
    print("Plots written:")
    for f in files:
        print(f"  {f}")
    return files
