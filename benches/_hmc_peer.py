"""Driver for the peers of benches/bench_hmc.py, run through the peers' own interpreter.

    PEER_PYTHON benches/_hmc_peer.py JOBS.json OUT_DIR
    python benches/_hmc_peer.py --shim PEERS_DIR      # once, on the fetched copies

Imports the reference code (Sohl-Dickstein/LAHMC, rueberger/MJHMC) from a fetched copy outside the
repository (``peers_dir`` in the job file) and BlackJAX; nothing of theirs lives in this repository.
Every job writes ``OUT_DIR/<name>.npz`` with the recorded states ``x`` (chain, n, dim), holding
times ``tau`` (jump samplers), gradient evaluations per chain while recording ``grads`` and the
wall time of the recording ``seconds`` (BlackJAX: after compilation, see ``compile_seconds``).
This file only uses numpy, the peers and the standard library (it does not import boltzkit).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def gaussian_precisions(d: int, s: float) -> Any:
    return 10.0 ** np.linspace(-s, 0, d)


# ------------------------------------------------------------------------------------------------
# reference LAHMC (Sohl-Dickstein/LAHMC, python/LAHMC.py)
def run_lahmc(job: dict[str, Any], x0: Any) -> dict[str, Any]:
    sys.path.insert(0, str(Path(job["peers_dir"]) / "LAHMC" / "python"))
    import distributions as ld  # type: ignore[import-not-found]
    from LAHMC import LAHMC  # type: ignore[import-not-found]

    np.random.seed(job["seed"])  # noqa: NPY002 (the reference code draws from the global RNG)
    t = job["target"]
    if t["name"] == "gaussian":
        dist = ld.Gaussian(ndims=t["dim"], nbatch=x0.shape[0], log_conditioning=t["log10_cond"])
    else:
        dist = ld.RoughWell(ndims=t["dim"], nbatch=x0.shape[0], scale1=t["a"], scale2=t["b"])
    count = {"g": 0}

    def dedx(x: Any) -> Any:
        count["g"] += x.shape[1]
        return dist.dEdX(x)

    s = LAHMC(x0.T.copy(), dist.E, dedx, epsilon=job["eps"], beta=job["beta"], num_leapfrog_steps=job["M"],
              num_look_ahead_steps=job["K"], display=0)  # fmt: skip
    for _ in range(job["burn"]):
        s.sample(num_steps=1)
    g0 = count["g"]
    rec = np.empty((x0.shape[0], job["n"], x0.shape[1]))
    t0 = time.perf_counter()
    for i in range(job["n"]):
        rec[:, i, :] = s.sample(num_steps=1).T
    sec = time.perf_counter() - t0
    grads = (count["g"] - g0) / x0.shape[0]
    return {"x": rec, "grads": np.full(x0.shape[0], grads), "seconds": sec}


# ------------------------------------------------------------------------------------------------
# reference MJHMC (rueberger/MJHMC, mjhmc/samplers/markov_jump_hmc.py)
def run_mjhmc(job: dict[str, Any], x0: Any) -> dict[str, Any]:
    sys.path.insert(0, str(Path(job["peers_dir"]) / "MJHMC"))
    from mjhmc.misc.distributions import Gaussian, RoughWell  # type: ignore[import-not-found]
    from mjhmc.samplers import markov_jump_hmc as mj  # type: ignore[import-not-found]

    np.random.seed(job["seed"])  # noqa: NPY002 (the reference code draws from the global RNG)
    t = job["target"]
    start = x0.T.copy()

    # The reference's Distribution loads / generates a cached "fair initialisation" from pickles;
    # we give every sampler the same exact draws instead (init_X is the hook for that).
    if t["name"] == "gaussian":

        class G(Gaussian):  # type: ignore[misc,valid-type]
            def init_X(self) -> None:
                self.Xinit = start.copy()

        dist = G(ndims=t["dim"], nbatch=x0.shape[0], log_conditioning=t["log10_cond"])
    else:

        class R(RoughWell):  # type: ignore[misc,valid-type]
            def init_X(self) -> None:
                self.Xinit = start.copy()

        dist = R(ndims=t["dim"], nbatch=x0.shape[0], scale1=t["a"], scale2=t["b"])
    cls = {"hmc": mj.HMC, "control": mj.ControlHMC, "ct_hmc": mj.ContinuousTimeHMC, "mjhmc": mj.MarkovJumpHMC}[job["sampler"]]
    s = cls(distribution=dist, epsilon=job["eps"], beta=job["beta"], num_leapfrog_steps=job["M"])
    jump = job["sampler"] in ("ct_hmc", "mjhmc")
    for _ in range(job["burn"]):
        s.sampling_iteration()
    g0 = dist.dEdX_count
    n = job["n"]
    rec = np.empty((x0.shape[0], n, x0.shape[1]))
    tau = np.empty((x0.shape[0], n))
    t0 = time.perf_counter()
    for i in range(n):
        if jump:
            # the state held during this iteration's holding time (the reference's own sample()
            # pairs each state with the previous state's holding time and pools the chains)
            rec[:, i, :] = s.state.X.T
            s.sampling_iteration()
            tau[:, i] = s.dwelling_times
        else:
            s.sampling_iteration()
            rec[:, i, :] = s.state.X.T
    sec = time.perf_counter() - t0
    grads = (dist.dEdX_count - g0) / x0.shape[0]
    out = {"x": rec, "grads": np.full(x0.shape[0], grads), "seconds": sec}
    if jump:
        out["tau"] = tau
        out["counts"] = np.array([s.l_count + s.fl_count, s.f_count, s.r_count], dtype=np.float64)
    return out


# ------------------------------------------------------------------------------------------------
# BlackJAX (CPU, float64)
def run_blackjax(job: dict[str, Any], x0: Any) -> dict[str, Any]:
    import jax

    jax.config.update("jax_enable_x64", True)
    import blackjax
    import jax.numpy as jnp

    t = job["target"]
    if t["name"] == "gaussian":
        c = jnp.asarray(gaussian_precisions(t["dim"], t["log10_cond"]))

        def logdensity(x: Any) -> Any:
            return -0.5 * jnp.sum(c * x * x)
    else:
        a, b = float(t["a"]), float(t["b"])

        def logdensity(x: Any) -> Any:
            return -jnp.sum(x * x / (2 * a * a) + jnp.cos(2 * jnp.pi * x / b))

    n_chains, d = x0.shape
    n = job["n"]
    key = jax.random.PRNGKey(job["seed"])
    out: dict[str, Any] = {}
    if job["sampler"] == "hmc":
        kernel = blackjax.hmc(logdensity, step_size=job["eps"], inverse_mass_matrix=jnp.ones(d),
                              num_integration_steps=job["M"])  # fmt: skip
        states = jax.vmap(kernel.init)(jnp.asarray(x0))
        step_size = np.full(n_chains, job["eps"])
        warm_grads = np.zeros(n_chains)
        warm_sec = 0.0

        def one(state: Any, k: Any) -> Any:
            keys = jax.random.split(k, n_chains)
            st, info = jax.vmap(kernel.step)(keys, state)
            return st, (st.position, info.num_integration_steps)
    else:
        # NUTS after window_adaptation (Stan's schedule), one adaptation per chain (vmapped)
        nw = job["warmup"]
        wkey, key = jax.random.split(key)

        def adapt(k: Any, x: Any) -> Any:
            wa = blackjax.window_adaptation(blackjax.nuts, logdensity, target_acceptance_rate=0.8)
            (st, par), info = wa.run(k, x, num_steps=nw)
            return st, par, jnp.sum(info.info.num_integration_steps)

        adapt_j = jax.jit(jax.vmap(adapt))
        t0 = time.perf_counter()
        states, params, wg = adapt_j(jax.random.split(wkey, n_chains), jnp.asarray(x0))
        jax.block_until_ready(states)
        warm_sec = time.perf_counter() - t0  # includes compilation
        warm_grads = np.asarray(wg, dtype=np.float64)
        step_size = np.asarray(params["step_size"])
        imm = params["inverse_mass_matrix"]

        def one(state: Any, k: Any) -> Any:
            keys = jax.random.split(k, n_chains)

            def st1(kk: Any, s: Any, eps: Any, m: Any) -> Any:
                return blackjax.nuts(logdensity, step_size=eps, inverse_mass_matrix=m).step(kk, s)

            st, info = jax.vmap(st1)(keys, state, params["step_size"], imm)
            return st, (st.position, info.num_integration_steps)

    @jax.jit
    def run(state: Any, k: Any) -> Any:
        return jax.lax.scan(one, state, jax.random.split(k, n))

    t0 = time.perf_counter()
    res = run(states, key)
    jax.block_until_ready(res)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, (pos, nsteps) = run(states, key)
    jax.block_until_ready(pos)
    sec = time.perf_counter() - t0
    out["x"] = np.asarray(pos).transpose(1, 0, 2)  # (chain, n, dim)
    out["grads"] = np.asarray(nsteps, dtype=np.float64).sum(axis=0)
    out["seconds"] = sec
    out["compile_seconds"] = first - sec
    out["warmup_grads"] = warm_grads
    out["warmup_seconds"] = warm_sec
    out["step_size"] = step_size
    return out


SHIMMED = ["LAHMC/python/LAHMC.py", "MJHMC/mjhmc/samplers/markov_jump_hmc.py", "MJHMC/mjhmc/misc/utils.py",
           "MJHMC/mjhmc/misc/distributions.py"]  # fmt: skip


def shim(peers_dir: Path) -> None:
    """The spec's minimal Python 3 shims, applied to the fetched copies (print statements become
    calls, xrange becomes range); nothing else of the reference code is changed."""
    import re

    for rel in SHIMMED:
        f = peers_dir / rel
        out = []
        for raw in f.read_text().splitlines():
            line = raw
            m = re.match(r"^(\s*)print (.*?)(,?)\s*$", raw)
            if m and not m.group(2).startswith("("):
                end = ", end=' '" if m.group(3) else ""
                line = f"{m.group(1)}print({m.group(2)}{end})"
            elif re.match(r"^\s*print\s*$", raw):
                line = raw.replace("print", "print()")
            out.append(re.sub(r"\bxrange\b", "range", line))
        f.write_text("\n".join(out) + "\n")


def main() -> None:
    if sys.argv[1] == "--shim":
        shim(Path(sys.argv[2]))
        return
    jobs = json.loads(Path(sys.argv[1]).read_text())
    out_dir = Path(sys.argv[2])
    for job in jobs:
        x0 = np.load(job["x0"])
        fn = {"lahmc_ref": run_lahmc, "mjhmc_ref": run_mjhmc, "blackjax": run_blackjax}[job["lib"]]
        res = fn(job, x0)
        np.savez(out_dir / f"{job['name']}.npz", **res)
        print(json.dumps({"done": job["name"], "seconds": res["seconds"]}), flush=True)


if __name__ == "__main__":
    main()
