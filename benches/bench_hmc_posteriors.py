"""boltzkit NUTS against BlackJAX NUTS on posteriors (issue 16, deliverable 6).

    python benches/bench_hmc_posteriors.py --peer-python /tmp/peers-hmc/bin/python \\
        [--chains 4] [--warmup 1000] [--draws 1000] [--only funnel ...] [--target-accept 0.8]
        [--no-peer] [--peer-driver vmap|seq]
    python benches/bench_hmc_posteriors.py --peer-python ... --only logistic_big --chains 8   # opt-in model

The peer runs in its own environment (jax + blackjax from PyPI, outside the repo): this script
writes a small driver to a temporary folder, runs it there, and reads back its draws. Both sides
use the same chains / warm-up / draws and the same estimators (boltzkit's ``Trace.summary``,
ArviZ's definitions). Per model: max |z| of the posterior means against the reference (exact
where known; otherwise the two samplers against each other, with both MCSEs), sd ratios against
the reference, min bulk ESS, ESS per gradient (sampling gradients only), ESS per second, max
R-hat, divergences, mean tree depth and step size.

Models: a 100-D correlated Gaussian (exact), Neal's funnel in 10-D centred (exact x₀ ~ N(0, 9))
and non-centred (``funnel_nc``: sampled in z ~ N(0, I), x₀ = 3 z₀, x_i = e^{x₀/2} z_i; the
statistics are those of the original x, against the same exact moments), eight schools centred
and non-centred, a logistic regression with 101 parameters (synthetic data, n = 400), a
non-centred stochastic-volatility model with 103 parameters (T = 100 returns simulated from it),
and ``logistic_big``: 101 parameters, n = 10⁴ rows, a gradient of ≈ 0.4–3 ms per point on this
machine, run only when named (``--only logistic_big``, with ``--chains 8``). boltzkit evaluates
the Gaussian, centred funnel and small logistic regression natively (built-in targets) and the
others through numpy batched callbacks (``logdensity=``); BlackJAX evaluates JAX log densities
(jitted).

Timing. boltzkit: ``wall`` is the whole ``hmc.sample`` call (warm-up + sampling), ``sample_s``
its sampling part (``Trace.wall_time``). BlackJAX, default driver (one chain after the other,
each compiled anew): ``wall`` includes its JIT compilation. BlackJAX, ``logistic_big``:
warm-up (``window_adaptation`` per chain) and sampling are two jitted functions, compiled ahead
of time (``.lower().compile()``, timed apart), then run; ``wall`` = warm-up + sampling runs
without compilation, ``wall_jit`` = with it. ``--peer-driver vmap`` (default, as BlackJAX's docs
run several chains): both functions vmapped over the chains, so the chains advance in lockstep
(``lockstep`` = gradients computed, max over chains per draw × chains, / gradients used);
``seq``: one chain after the other through the same compiled single-chain functions. Both sides
also time the gradient of one point alone and of a batch of 8 (median of 30 calls; per point).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from boltzkit import hmc

Y8 = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
S8 = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def _gauss100() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(100)
    q, _ = np.linalg.qr(rng.standard_normal((100, 100)))
    ev = np.logspace(-1, 1, 100)
    cov = (q * ev) @ q.T
    cov = 0.5 * (cov + cov.T)
    return cov, np.linalg.inv(cov)


def _logistic_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(101)
    x = np.column_stack([np.ones(400), rng.standard_normal((400, 100))])
    w = rng.standard_normal(101) * 0.3
    y = (rng.random(400) < 1 / (1 + np.exp(-x @ w))).astype(np.float64)
    return x, y


def _logistic_big_data(n: int = 10_000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(103)
    x = np.column_stack([np.ones(n), rng.standard_normal((n, 100))])
    w = rng.standard_normal(101) * 0.3
    y = (rng.random(n) < 1 / (1 + np.exp(-x @ w))).astype(np.float64)
    return x, y


XB, YB = _logistic_big_data()


def logistic_big(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Logistic regression log density (prior N(0, 1) per coefficient) for a batch ``p`` (m, 101):
    two matrix products with the (10⁴, 101) design, as a numpy user would write it."""
    t = p @ XB.T
    e = np.exp(-np.abs(t))
    lp = (YB * t).sum(1) - (np.maximum(t, 0) + np.log1p(e)).sum(1) - 0.5 * (p**2).sum(1)
    s = np.where(t >= 0, 1 / (1 + e), e / (1 + e))
    return lp, (YB - s) @ XB - p


def funnel_nc(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Neal's funnel, non-centred: z ~ N(0, I) (the funnel is the image of x(z))."""
    return -0.5 * (p**2).sum(1), -p


def funnel_x(z: np.ndarray) -> np.ndarray:
    """Original funnel coordinates of non-centred draws (..., 10): x₀ = 3 z₀, x_i = e^{x₀/2} z_i."""
    x0 = 3.0 * z[..., :1]
    return np.concatenate([x0, np.exp(x0 / 2) * z[..., 1:]], axis=-1)


def _grad_cost(f: Any, x: np.ndarray, reps: int = 30) -> float:
    """Median seconds per point of one call of ``f`` on the batch ``x``."""
    f(x)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f(x)
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)) / x.shape[0]


def _sv_data(t: int = 100) -> np.ndarray:
    """Returns simulated from the model itself (μ = −1, φ = 0.95, σ = 0.25)."""
    rng = np.random.default_rng(102)
    h = np.empty(t)
    h[0] = -1 + 0.25 * rng.standard_normal() / np.sqrt(1 - 0.95**2)
    for i in range(1, t):
        h[i] = -1 + 0.95 * (h[i - 1] + 1) + 0.25 * rng.standard_normal()
    return np.asarray(np.exp(h / 2) * rng.standard_normal(t), dtype=np.float64)


YS = _sv_data()


def stochastic_volatility(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-centred stochastic volatility (Stan's user guide model, T = 100): parameters μ,
    atanh φ, log σ and the innovations η; μ ~ N(0, 5²), φ ~ U(−1, 1), σ ~ half-Cauchy(0, 5),
    h₁ = μ + σ η₁/√(1−φ²), h_t = μ + φ (h_{t−1} − μ) + σ η_t, y_t ~ N(0, e^{h_t}). The gradient
    by reverse accumulation through the recursion."""
    mu, lphi, lsig, eta = p[:, 0], p[:, 1], p[:, 2], p[:, 3:]
    phi, sig = np.tanh(lphi), np.exp(lsig)
    n, t = eta.shape
    s1 = np.sqrt(1 - phi**2)
    h = np.empty((n, t))
    h[:, 0] = mu + sig * eta[:, 0] / s1
    for i in range(1, t):
        h[:, i] = mu + phi * (h[:, i - 1] - mu) + sig * eta[:, i]
    ex = YS**2 * np.exp(-h)
    c = sig**2 / 25
    lp = -(mu**2) / 50 + np.log1p(-(phi**2)) - np.log1p(c) + lsig - 0.5 * (eta**2).sum(1) + (-h / 2 - ex / 2).sum(1)
    a = -0.5 + ex / 2
    b = np.empty_like(a)
    b[:, -1] = a[:, -1]
    for i in range(t - 2, -1, -1):
        b[:, i] = a[:, i] + phi * b[:, i + 1]
    g = np.empty_like(p)
    g[:, 3] = b[:, 0] * sig / s1 - eta[:, 0]
    g[:, 4:] = b[:, 1:] * sig[:, None] - eta[:, 1:]
    g[:, 0] = -mu / 25 + b[:, 0] + (1 - phi) * b[:, 1:].sum(1)
    dsig = b[:, 0] * eta[:, 0] / s1 + (b[:, 1:] * eta[:, 1:]).sum(1)
    g[:, 2] = dsig * sig - 2 * c / (1 + c) + 1
    dphi = b[:, 0] * sig * eta[:, 0] * phi / s1**3 + (b[:, 1:] * (h[:, :-1] - mu[:, None])).sum(1)
    g[:, 1] = dphi * (1 - phi**2) - 2 * phi
    return lp, g


def eight_noncentred(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu, lt, tt = p[:, 0], p[:, 1], p[:, 2:]
    tau = np.exp(lt)
    theta = mu[:, None] + tau[:, None] * tt
    r = (Y8 - theta) / S8**2
    c = tau**2 / 25
    lp = -(mu**2) / 50 - np.log1p(c) + lt - 0.5 * (tt**2).sum(1) - 0.5 * ((Y8 - theta) ** 2 / S8**2).sum(1)
    g = np.empty_like(p)
    g[:, 0] = -mu / 25 + r.sum(1)
    g[:, 1] = -2 * c / (1 + c) + 1 + (r * tt).sum(1) * tau
    g[:, 2:] = -tt + r * tau[:, None]
    return lp, g


def eight_centred(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu, lt, th = p[:, 0], p[:, 1], p[:, 2:]
    tau = np.exp(lt)
    c = tau**2 / 25
    dev = th - mu[:, None]
    lp = (
        -(mu**2) / 50 - np.log1p(c) + lt
        - 0.5 * (dev**2).sum(1) / tau**2 - 8 * lt
        - 0.5 * ((Y8 - th) ** 2 / S8**2).sum(1)
    )  # fmt: skip
    g = np.empty_like(p)
    g[:, 0] = -mu / 25 + dev.sum(1) / tau**2
    g[:, 1] = -2 * c / (1 + c) + 1 + (dev**2).sum(1) / tau**2 - 8
    g[:, 2:] = -dev / tau[:, None] ** 2 + (Y8 - th) / S8**2
    return lp, g


JAX_MODELS = {
    "stoch_vol": """
def logdensity(p):
    mu, lphi, lsig, eta = p[0], p[1], p[2], p[3:]
    phi, sig = jnp.tanh(lphi), jnp.exp(lsig)
    h1 = mu + sig * eta[0] / jnp.sqrt(1 - phi**2)
    def step(h, e):
        hn = mu + phi * (h - mu) + sig * e
        return hn, hn
    _, hs = jax.lax.scan(step, h1, eta[1:])
    h = jnp.concatenate([h1[None], hs])
    return (-mu**2 / 50 + jnp.log1p(-phi**2) - jnp.log1p(sig**2 / 25) + lsig - 0.5 * jnp.sum(eta**2)
            + jnp.sum(-h / 2 - YS**2 * jnp.exp(-h) / 2))
""",
    "eight_noncentred": """
def logdensity(p):
    mu, lt, tt = p[0], p[1], p[2:]
    tau = jnp.exp(lt)
    theta = mu + tau * tt
    return (-mu**2 / 50 - jnp.log1p(tau**2 / 25) + lt - 0.5 * jnp.sum(tt**2)
            - 0.5 * jnp.sum((Y8 - theta)**2 / S8**2))
""",
    "eight_centred": """
def logdensity(p):
    mu, lt, th = p[0], p[1], p[2:]
    tau = jnp.exp(lt)
    return (-mu**2 / 50 - jnp.log1p(tau**2 / 25) + lt - 0.5 * jnp.sum((th - mu)**2) / tau**2 - 8 * lt
            - 0.5 * jnp.sum((Y8 - th)**2 / S8**2))
""",
    "funnel": """
def logdensity(x):
    return -(x[0]**2 / 18 + jnp.sum(x[1:]**2) * jnp.exp(-x[0]) / 2 + (x.shape[0] - 1) * x[0] / 2)
""",
    "funnel_nc": """
def logdensity(z):
    return -0.5 * jnp.sum(z**2)
""",
    "logistic_big": """
def logdensity(w):
    t = XB @ w
    return jnp.sum(YB * t - jnp.logaddexp(0.0, t)) - 0.5 * jnp.sum(w**2)
""",
    "gauss100": """
def logdensity(x):
    return -0.5 * x @ (PREC @ x)
""",
    "logistic": """
def logdensity(w):
    t = XL @ w
    return jnp.sum(YL * t - jnp.logaddexp(0.0, t)) - 0.5 * jnp.sum(w**2)
""",
}

PEER = """
import json, sys, time
import numpy as np
import jax, jax.numpy as jnp
import blackjax
jax.config.update("jax_enable_x64", True)
cfg = json.loads(sys.argv[1])
data = np.load(cfg["data"])
Y8, S8 = jnp.asarray(data["y8"]), jnp.asarray(data["s8"])
PREC, XL, YL = jnp.asarray(data["prec"]), jnp.asarray(data["xl"]), jnp.asarray(data["yl"])
YS = jnp.asarray(data["ys"])
XB, YB = jnp.asarray(data["xb"]), jnp.asarray(data["yb"])
{model}
d, chains, warm, draws = cfg["dim"], cfg["chains"], cfg["warmup"], cfg["draws"]
rng = np.random.default_rng(cfg["seed"])
x0 = rng.uniform(-2, 2, (chains, d))
out_x, steps, div, eps, depth = [], [], [], [], []
t0 = time.perf_counter()
for c in range(chains):
    key = jax.random.PRNGKey(cfg["seed"] * 1000 + c)
    k1, k2 = jax.random.split(key)
    wa = blackjax.window_adaptation(blackjax.nuts, logdensity, target_acceptance_rate=cfg["target_accept"])
    (state, params), _ = wa.run(k1, jnp.asarray(x0[c]), num_steps=warm)
    kernel = jax.jit(blackjax.nuts(logdensity, **params).step)
    def one(st, k):
        st, info = kernel(k, st)
        return st, (st.position, info.num_integration_steps, info.is_divergent, info.num_trajectory_expansions)
    _, (xs, ns, dv, dp) = jax.lax.scan(one, state, jax.random.split(k2, draws))
    out_x.append(np.asarray(xs)); steps.append(np.asarray(ns)); div.append(np.asarray(dv)); depth.append(np.asarray(dp))
    eps.append(float(params["step_size"]))
wall = time.perf_counter() - t0
np.savez(cfg["out"], x=np.stack(out_x), steps=np.stack(steps), div=np.stack(div), depth=np.stack(depth),
         eps=np.array(eps), wall=wall)
"""


PEER_AOT = """
import json, sys, time
import numpy as np
import jax, jax.numpy as jnp
import blackjax
jax.config.update("jax_enable_x64", True)
cfg = json.loads(sys.argv[1])
data = np.load(cfg["data"])
XB, YB = jnp.asarray(data["xb"]), jnp.asarray(data["yb"])
{model}
d, chains, warm, draws = cfg["dim"], cfg["chains"], cfg["warmup"], cfg["draws"]
rng = np.random.default_rng(cfg["seed"])
x0 = jnp.asarray(rng.uniform(-2, 2, (chains, d)))
keys = jax.random.split(jax.random.PRNGKey(cfg["seed"]), 2 * chains)
k1, k2 = keys[:chains], keys[chains:]


def warm_one(k, x):
    wa = blackjax.window_adaptation(blackjax.nuts, logdensity, target_acceptance_rate=cfg["target_accept"])
    (state, params), info = wa.run(k, x, num_steps=warm)
    return state, params["step_size"], params["inverse_mass_matrix"], jnp.sum(info.info.num_integration_steps)


def sample_one(k, state, eps, imm):
    kernel = blackjax.nuts(logdensity, step_size=eps, inverse_mass_matrix=imm).step
    def one(st, kk):
        st, info = kernel(kk, st)
        return st, (st.position, info.num_integration_steps, info.is_divergent, info.num_trajectory_expansions)
    return jax.lax.scan(one, state, jax.random.split(k, draws))[1]


vm = cfg["driver"] == "vmap"


def stack(outs):
    return jax.tree.map(lambda *a: jnp.stack(a), *outs)


def pick(t, c):
    return jax.tree.map(lambda a: a[c], t)


t0 = time.perf_counter()
warm_c = jax.jit(jax.vmap(warm_one) if vm else warm_one).lower(*((k1, x0) if vm else (k1[0], x0[0]))).compile()
t_cw = time.perf_counter() - t0
t0 = time.perf_counter()
wout = warm_c(k1, x0) if vm else stack([warm_c(k1[c], x0[c]) for c in range(chains)])
state, eps, imm, wgrads = jax.block_until_ready(wout)
t_w = time.perf_counter() - t0
t0 = time.perf_counter()
args = (k2, state, eps, imm) if vm else (k2[0], pick(state, 0), eps[0], imm[0])
samp_c = jax.jit(jax.vmap(sample_one) if vm else sample_one).lower(*args).compile()
t_cs = time.perf_counter() - t0
t0 = time.perf_counter()
sout = samp_c(k2, state, eps, imm) if vm else stack([samp_c(k2[c], pick(state, c), eps[c], imm[c]) for c in range(chains)])
xs, ns, dv, dp = jax.block_until_ready(sout)
t_s = time.perf_counter() - t0
vg1 = jax.jit(jax.value_and_grad(logdensity))
vg8 = jax.jit(jax.vmap(jax.value_and_grad(logdensity)))
cost = []
for f, x in ((vg1, x0[0]), (vg8, x0[:8])):
    jax.block_until_ready(f(x))
    ts = []
    for _ in range(30):
        t0 = time.perf_counter()
        jax.block_until_ready(f(x))
        ts.append(time.perf_counter() - t0)
    cost.append(float(np.median(ts)) / (1 if x.ndim == 1 else x.shape[0]))
np.savez(cfg["out"], x=np.asarray(xs), steps=np.asarray(ns), div=np.asarray(dv), depth=np.asarray(dp),
         eps=np.asarray(eps), wall=t_w + t_s, sample_s=t_s, wall_jit=t_cw + t_w + t_cs + t_s,
         compile_s=t_cw + t_cs, warm_grads=np.asarray(wgrads), grad1=cost[0], grad8=cost[1])
"""


def _fake_trace(x: np.ndarray, grads: np.ndarray, wall: float) -> hmc.Trace:
    c, n, d = x.shape
    z = np.zeros((c, n))
    return hmc.Trace(method="hmc", records=x, tau=None, moves=np.zeros((c, n), dtype=np.uint8), accept=z, energy=z,
                     n_grad=grads, n_grad_warmup=np.zeros(c, dtype=np.int64), step_size=1.0, n_leapfrog=1, beta=1.0,
                     refresh_rate=None, look_ahead=1, inverse_mass_matrix=np.ones(d), seed=0, wall_time=wall)  # fmt: skip


def _stats(tr: hmc.Trace, grads: float, wall: float) -> dict[str, Any]:
    s = tr.summary()
    return {
        "mean": s["mean"],
        "sd": s["sd"],
        "mcse": s["sd"] / np.sqrt(s["ess_bulk"]),
        "min_ess_bulk": float(s["ess_bulk"].min()),
        "ess_per_grad": float(s["ess_bulk"].min() / grads),
        "ess_per_s": float(s["ess_bulk"].min() / wall),
        "max_rhat": float(np.nanmax(s["r_hat"])),
    }


def _run_peer(a: argparse.Namespace, name: str, m: dict[str, Any], tmp: Path, data: Path) -> dict[str, Any]:
    out = tmp / f"{name}.npz"
    cfg = {"data": str(data), "out": str(out), "dim": m["dim"], "chains": a.chains, "warmup": a.warmup,
           "draws": a.draws, "seed": a.seed, "target_accept": a.target_accept, "driver": a.peer_driver}  # fmt: skip
    script = tmp / f"peer_{name}.py"
    driver = PEER_AOT if m.get("peer") == "aot" else PEER
    script.write_text(driver.replace("{model}", textwrap.dedent(JAX_MODELS[name])))
    subprocess.run([a.peer_python, str(script), json.dumps(cfg)], check=True)
    p = np.load(out)
    x = m["transform"](p["x"]) if "transform" in m else p["x"]
    ptr = _fake_trace(x, p["steps"].sum(axis=1).astype(np.int64), float(p["wall"]))
    st = _stats(ptr, float(p["steps"].sum()), float(p["wall"]))
    st.update({"divergences": int(p["div"].sum()), "mean_depth": float(np.mean(p["depth"])),
               "step_size": float(np.median(p["eps"])), "wall": float(p["wall"])})  # fmt: skip
    if "sample_s" in p:
        st.update({"sample_s": float(p["sample_s"]), "ess_per_s_sampling": st["min_ess_bulk"] / float(p["sample_s"]),
                   "wall_jit": float(p["wall_jit"]), "ess_per_s_jit": st["min_ess_bulk"] / float(p["wall_jit"]),
                   "compile_s": float(p["compile_s"]), "grad1_us": 1e6 * float(p["grad1"]),
                   "grad8_us": 1e6 * float(p["grad8"])})  # fmt: skip
        if a.peer_driver == "vmap":
            st["lockstep"] = float(p["steps"].max(axis=0).sum() * p["steps"].shape[0] / p["steps"].sum())
    return st


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peer-python", required=True)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", action="append", help="run these models (logistic_big runs only when named)")
    ap.add_argument("--target-accept", type=float, default=0.8, help="both sides (default 0.8)")
    ap.add_argument("--no-peer", action="store_true", help="boltzkit only (no BlackJAX run)")
    ap.add_argument("--peer-driver", choices=("vmap", "seq"), default="vmap",
                    help="logistic_big: BlackJAX chains vmapped (default) or one after the other")  # fmt: skip
    a = ap.parse_args()
    cov, prec = _gauss100()
    xl, yl = _logistic_data()
    funnel_sd = np.r_[3.0, np.full(9, np.exp(9 / 4))]
    models: dict[str, dict[str, Any]] = {
        "gauss100": {"target": hmc.GaussianDense(prec), "dim": 100, "ref": (np.zeros(100), np.sqrt(np.diag(cov)))},
        "funnel": {"target": hmc.Funnel(dim=10, sigma=3.0), "dim": 10, "ref": (np.zeros(10), funnel_sd)},
        "funnel_nc": {"logdensity": funnel_nc, "dim": 10, "ref": (np.zeros(10), funnel_sd), "transform": funnel_x},
        "eight_noncentred": {"logdensity": eight_noncentred, "dim": 10, "ref": None},
        "eight_centred": {"logdensity": eight_centred, "dim": 10, "ref": None},
        "logistic": {"target": hmc.LogisticRegression(xl, yl, prior_scale=1.0), "dim": 101, "ref": None},
        "stoch_vol": {"logdensity": stochastic_volatility, "dim": 103, "ref": None},
        "logistic_big": {"logdensity": logistic_big, "dim": 101, "ref": None, "peer": "aot", "opt_in": True},
    }
    with tempfile.TemporaryDirectory() as tmpname:
        tmp = Path(tmpname)
        data = tmp / "data.npz"
        np.savez(data, y8=Y8, s8=S8, prec=prec, xl=xl, yl=yl, ys=YS, xb=XB, yb=YB)
        rows: list[dict[str, Any]] = []
        for name, m in models.items():
            if (a.only and name not in a.only) or (not a.only and m.get("opt_in")):
                continue
            rng = np.random.default_rng(a.seed)
            x0 = rng.uniform(-2, 2, (a.chains, m["dim"]))
            t0 = time.perf_counter()
            kw: dict[str, Any] = {"n_chains": a.chains, "warmup": a.warmup, "n_samples": a.draws, "seed": a.seed,
                                  "x0": x0, "progress": False, "target_accept": a.target_accept}  # fmt: skip
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tr = hmc.sample(m["target"], **kw) if "target" in m else hmc.sample(logdensity=m["logdensity"], **kw)
            wall_ours = time.perf_counter() - t0
            if "transform" in m:
                ours = _stats(_fake_trace(m["transform"](tr.draws), tr.n_grad, wall_ours), float(tr.n_grad.sum()),
                              wall_ours)  # fmt: skip
            else:
                ours = _stats(tr, float(tr.n_grad.sum()), wall_ours)
            ours.update({"divergences": int(tr.divergences.sum()),
                         "mean_depth": float(np.mean(tr.sample_stats()["tree_depth"])), "step_size": tr.step_size,
                         "wall": wall_ours})  # fmt: skip
            if m.get("peer") == "aot":
                f = m["target"].energy_grad if "target" in m else m["logdensity"]
                ours.update({"sample_s": tr.wall_time, "ess_per_s_sampling": ours["min_ess_bulk"] / tr.wall_time,
                             "grad1_us": 1e6 * _grad_cost(f, x0[:1]),
                             "grad8_us": 1e6 * _grad_cost(f, np.resize(x0, (8, m["dim"])))})  # fmt: skip
            peer = None if a.no_peer else _run_peer(a, name, m, tmp, data)
            if m["ref"] is not None:
                mu, sd = m["ref"]
                sides = [ours] if peer is None else [ours, peer]
                for st in sides:
                    st["max_z"] = float(np.abs((st["mean"] - mu) / st["mcse"]).max())
                    st["sd_ratio"] = (float((st["sd"] / sd).min()), float((st["sd"] / sd).max()))
            elif peer is not None:
                z = (ours["mean"] - peer["mean"]) / np.hypot(ours["mcse"], peer["mcse"])
                ours["max_z"] = peer["max_z"] = float(np.abs(z).max())
                r = ours["sd"] / peer["sd"]
                ours["sd_ratio"], peer["sd_ratio"] = (float(r.min()), float(r.max())), (1.0, 1.0)
            else:
                ours["max_z"], ours["sd_ratio"] = float("nan"), (float("nan"), float("nan"))
            row: dict[str, Any] = {"model": name, "target_accept": a.target_accept}
            for side, st in (("ours", ours), ("blackjax", peer)):
                if st is not None:
                    row[side] = {k: v for k, v in st.items() if k not in ("mean", "sd", "mcse")}
            rows.append(row)
            print(json.dumps(rows[-1]), flush=True)
    hdr = (f"{'model':<17} {'side':<9} {'max|z|':>7} {'sd ratio':>12} {'minESSb':>8} {'ESS/grad':>9} {'ESS/s':>8} "
           f"{'Rhat':>6} {'div':>4} {'depth':>5} {'eps':>6}")  # fmt: skip
    print(
        f"target_accept {a.target_accept}, {a.chains} chains, warm-up {a.warmup}, draws {a.draws}, "
        f"BlackJAX driver for logistic_big: {a.peer_driver}"
    )
    print(hdr)
    for r in rows:
        for side in ("ours", "blackjax"):
            if side not in r:
                continue
            s = r[side]
            print(f"{r['model']:<17} {side:<9} {s['max_z']:>7.2f} {s['sd_ratio'][0]:>5.2f}-{s['sd_ratio'][1]:<5.2f} "
                  f"{s['min_ess_bulk']:>8.0f} {s['ess_per_grad']:>9.2e} {s['ess_per_s']:>8.2f} {s['max_rhat']:>6.3f} "
                  f"{s['divergences']:>4d} {s['mean_depth']:>5.2f} {s['step_size']:>6.3f}")  # fmt: skip
    timed = [r for r in rows if "sample_s" in r["ours"]]
    if timed:
        print(f"\n{'model':<17} {'side':<9} {'grad µs (1)':>11} {'grad µs/pt (8)':>14} {'sample s':>9} {'wall s':>8} "
              f"{'wall+JIT s':>10} {'ESS/s samp':>10} {'ESS/s wall':>10} {'ESS/s +JIT':>10}")  # fmt: skip
        for r in timed:
            for side in ("ours", "blackjax"):
                if side not in r:
                    continue
                s = r[side]
                wj = s.get("wall_jit", s["wall"])
                lock = f"  lockstep {s['lockstep']:.2f}" if "lockstep" in s else ""
                print(f"{r['model']:<17} {side:<9} {s['grad1_us']:>11.0f} {s['grad8_us']:>14.0f} {s['sample_s']:>9.1f} "
                      f"{s['wall']:>8.1f} {wj:>10.1f} {s['ess_per_s_sampling']:>10.2f} {s['ess_per_s']:>10.2f} "
                      f"{s['min_ess_bulk'] / wj:>10.2f}{lock}")  # fmt: skip
            if "blackjax" in r:
                o, b = r["ours"], r["blackjax"]
                ratios = (o["ess_per_s_sampling"] / b["ess_per_s_sampling"], o["ess_per_s"] / b["ess_per_s"],
                          o["ess_per_s"] / b["ess_per_s_jit"])  # fmt: skip
                print(f"{r['model']:<17} ours/BlackJAX ESS/s: sampling {ratios[0]:.2f}, warm-up+sampling "
                      f"{ratios[1]:.2f}, against BlackJAX with its JIT {ratios[2]:.2f}")  # fmt: skip
    sys.stdout.flush()


if __name__ == "__main__":
    main()
