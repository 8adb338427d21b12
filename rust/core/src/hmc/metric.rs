//! Phase-space states, the kinetic energy of an inverse mass matrix, and the leapfrog integrator.

use super::HmcError;
use super::target::{Target, check_spd};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// The inverse mass matrix `M⁻¹` (the "metric"): kinetic energy `K(p) = pᵀ M⁻¹ p / 2`,
/// momenta `p ~ N(0, M)`, velocity `dx/dt = M⁻¹ p`.
#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    /// `M⁻¹ = diag(minv)`.
    Diag {
        /// Diagonal of `M⁻¹`, positive.
        minv: Vec<f64>,
        /// `1/√minv_i`: the standard deviations of the momenta.
        sd: Vec<f64>,
        /// Every entry of `minv` is 1 (the identity: kernels skip the product `M⁻¹ p`).
        unit: bool,
    },
    /// Dense `M⁻¹` (`d × d`, row-major, symmetric positive definite).
    Dense {
        /// Dimension.
        d: usize,
        /// `M⁻¹`, row-major.
        minv: Vec<f64>,
        /// Lower Cholesky factor `L` of `M⁻¹` (`p = L⁻ᵀ z` has covariance `M`).
        chol: Vec<f64>,
    },
}

impl Metric {
    /// The identity metric in `d` dimensions.
    pub fn identity(d: usize) -> Self {
        Metric::Diag {
            minv: vec![1.0; d],
            sd: vec![1.0; d],
            unit: true,
        }
    }

    /// A diagonal metric.
    ///
    /// # Errors
    /// [`HmcError::Invalid`] if an entry is not finite and > 0.
    pub fn diag(minv: Vec<f64>) -> Result<Self, HmcError> {
        if let Some(i) = minv.iter().position(|t| !(t.is_finite() && *t > 0.0)) {
            return Err(HmcError::Invalid {
                arg: "inverse_mass_matrix",
                msg: format!("diagonal entry {i} is {} (must be finite and > 0)", minv[i]),
            });
        }
        let sd = minv.iter().map(|t| 1.0 / t.sqrt()).collect();
        let unit = minv.iter().all(|&t| t == 1.0);
        Ok(Metric::Diag { minv, sd, unit })
    }

    /// A dense metric.
    ///
    /// # Errors
    /// [`HmcError::Invalid`] unless `minv` is a finite, symmetric, positive-definite `d × d` matrix.
    pub fn dense(d: usize, minv: Vec<f64>) -> Result<Self, HmcError> {
        let chol = check_spd("inverse_mass_matrix", &minv, d)?;
        Ok(Metric::Dense { d, minv, chol })
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        match self {
            Metric::Diag { minv, .. } => minv.len(),
            Metric::Dense { d, .. } => *d,
        }
    }

    /// `v = M⁻¹ p`.
    #[inline]
    pub fn velocity(&self, p: &[f64], v: &mut [f64]) {
        match self {
            Metric::Diag { minv, .. } => {
                for ((vi, &pi), &mi) in v.iter_mut().zip(p).zip(minv) {
                    *vi = mi * pi;
                }
            }
            Metric::Dense { d, minv, .. } => {
                for (i, vi) in v.iter_mut().enumerate() {
                    *vi = minv[i * d..(i + 1) * d]
                        .iter()
                        .zip(p)
                        .map(|(a, b)| a * b)
                        .sum();
                }
            }
        }
    }

    /// Kinetic energy `pᵀ M⁻¹ p / 2`.
    #[inline]
    pub fn kinetic(&self, p: &[f64]) -> f64 {
        match self {
            Metric::Diag { minv, .. } => {
                // four partial sums so the reduction vectorises
                let mut acc = [0.0; 4];
                let n4 = p.len() / 4 * 4;
                for (ps, ms) in p[..n4].chunks_exact(4).zip(minv[..n4].chunks_exact(4)) {
                    for k in 0..4 {
                        acc[k] += ms[k] * ps[k] * ps[k];
                    }
                }
                let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
                for i in n4..p.len() {
                    s += minv[i] * p[i] * p[i];
                }
                0.5 * s
            }
            Metric::Dense { d, minv, .. } => {
                let mut s = 0.0;
                for i in 0..*d {
                    let row: f64 = minv[i * d..(i + 1) * d]
                        .iter()
                        .zip(p)
                        .map(|(a, b)| a * b)
                        .sum();
                    s += row * p[i];
                }
                0.5 * s
            }
        }
    }

    /// Draws `p ~ N(0, M)` into `p`.
    pub fn sample_momentum<R: Rng + ?Sized>(&self, rng: &mut R, p: &mut [f64]) {
        match self {
            Metric::Diag { sd, .. } => {
                for (pi, &s) in p.iter_mut().zip(sd) {
                    let z: f64 = StandardNormal.sample(rng);
                    *pi = s * z;
                }
            }
            Metric::Dense { d, chol, .. } => {
                for pi in p.iter_mut() {
                    *pi = StandardNormal.sample(rng);
                }
                // solve Lᵀ p = z (back substitution): Cov(p) = L⁻ᵀ L⁻¹ = (L Lᵀ)⁻¹ = M
                for i in (0..*d).rev() {
                    let mut s = p[i];
                    for k in i + 1..*d {
                        s -= chol[k * d + i] * p[k];
                    }
                    p[i] = s / chol[i * d + i];
                }
            }
        }
    }

    /// Partial refresh `p ← √(1−β) p + √β n`, `n ~ N(0, M)`; `scratch` has length `d`.
    pub fn refresh<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        beta: f64,
        p: &mut [f64],
        scratch: &mut [f64],
    ) {
        self.sample_momentum(rng, scratch);
        let (a, b) = ((1.0 - beta).sqrt(), beta.sqrt());
        for (pi, &ni) in p.iter_mut().zip(scratch.iter()) {
            *pi = a * *pi + b * ni;
        }
    }
}

/// A phase-space state: position, momentum, and the cached energy and gradient at the position.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// Position.
    pub x: Vec<f64>,
    /// Momentum.
    pub p: Vec<f64>,
    /// `∇E(x)`.
    pub g: Vec<f64>,
    /// `E(x)`; `+∞` once a trajectory diverged (then `x`, `p`, `g` are meaningless).
    pub e: f64,
}

impl Phase {
    /// A zero state in `d` dimensions.
    pub fn zeros(d: usize) -> Self {
        Phase {
            x: vec![0.0; d],
            p: vec![0.0; d],
            g: vec![0.0; d],
            e: 0.0,
        }
    }

    /// `F`: negates the momentum.
    #[inline]
    pub fn flip(&mut self) {
        for p in &mut self.p {
            *p = -*p;
        }
    }

    /// Copies `other` into `self` without reallocating.
    #[inline]
    pub fn copy_from(&mut self, other: &Phase) {
        self.x.copy_from_slice(&other.x);
        self.p.copy_from_slice(&other.p);
        self.g.copy_from_slice(&other.g);
        self.e = other.e;
    }

    /// Whether the state is usable (finite energy).
    #[inline]
    pub fn ok(&self) -> bool {
        self.e.is_finite()
    }
}

/// Reads an energy as the samplers do: NaN and ±∞ become `+∞` (a divergent point).
#[inline]
pub fn sanitize(e: f64) -> f64 {
    if e.is_finite() { e } else { f64::INFINITY }
}

/// Hamiltonian `E(x) + K(p)`, `+∞` for a divergent state.
#[inline]
pub fn hamiltonian(metric: &Metric, z: &Phase) -> f64 {
    if z.e.is_finite() {
        let h = z.e + metric.kinetic(&z.p);
        if h.is_finite() { h } else { f64::INFINITY }
    } else {
        f64::INFINITY
    }
}

/// The kick-and-drift of one leapfrog step: `p −= κ ∇E(x)`, `x += ε M⁻¹ p`, with `κ = ε/2` on the
/// first step of a trajectory and `κ = ε` on later ones (the closing half kick of a step merged
/// with the opening half kick of the next). `v` is scratch of length `d`. Returns false (and
/// leaves the state to be marked divergent) if the new momentum is not finite.
#[inline(always)]
pub fn kick_drift(metric: &Metric, kappa: f64, eps: f64, z: &mut Phase, v: &mut [f64]) -> bool {
    // an OR over "exponent all ones" flags: a branch-free finiteness check that vectorises
    let mut bad = 0u64;
    match metric {
        Metric::Diag { minv, .. } => {
            for (((x, p), &g), &m) in z.x.iter_mut().zip(z.p.iter_mut()).zip(&z.g).zip(minv) {
                *p -= kappa * g;
                bad |= non_finite(*p);
                *x += eps * (m * *p);
            }
        }
        Metric::Dense { .. } => {
            for (p, &g) in z.p.iter_mut().zip(&z.g) {
                *p -= kappa * g;
                bad |= non_finite(*p);
            }
            metric.velocity(&z.p, v);
            for (x, &vi) in z.x.iter_mut().zip(v.iter()) {
                *x += eps * vi;
            }
        }
    }
    bad == 0
}

/// 1 if `v` is ±∞ or NaN, else 0 (branch-free).
#[inline(always)]
pub fn non_finite(v: f64) -> u64 {
    const EXP: u64 = 0x7FF0_0000_0000_0000;
    ((v.to_bits() & EXP) == EXP) as u64
}

/// The closing half kick of a trajectory, after `∇E` and `E` at the final position are in `z`:
/// `p −= ε/2 ∇E(x)`. Marks the state divergent (`e = +∞`) if the energy or momentum is not finite.
#[inline(always)]
pub fn kick_last(eps: f64, z: &mut Phase) {
    let h = 0.5 * eps;
    let mut bad = 0u64;
    for (p, &g) in z.p.iter_mut().zip(&z.g) {
        *p -= h * g;
        bad |= non_finite(*p);
    }
    if !(z.e.is_finite() && bad == 0) {
        z.e = f64::INFINITY;
    }
}

/// `n` leapfrog steps of size `eps` from `z`, in place; returns the number of gradient
/// evaluations. Intermediate steps evaluate only the gradient ([`Target::grad`]), the last one
/// energy and gradient. A trajectory stops at the first non-finite momentum (a non-finite
/// gradient shows there) and is divergent (`z.e = +∞`) if that happens or the final energy is
/// not finite; it then counts only the gradients evaluated.
pub fn leapfrog<T: Target + ?Sized>(
    target: &T,
    metric: &Metric,
    eps: f64,
    n: usize,
    z: &mut Phase,
    v: &mut [f64],
) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above). Rust never contracts a * b + c
            // into an FMA on its own, so the wider vectors give the same bits as the plain path.
            return unsafe { leapfrog_avx2(target, metric, eps, n, z, v) };
        }
    }
    leapfrog_body(target, metric, eps, n, z, v)
}

/// [`leapfrog`] compiled with AVX2 enabled (4 doubles per vector instead of 2).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn leapfrog_avx2<T: Target + ?Sized>(
    target: &T,
    metric: &Metric,
    eps: f64,
    n: usize,
    z: &mut Phase,
    v: &mut [f64],
) -> u64 {
    leapfrog_body(target, metric, eps, n, z, v)
}

/// [`leapfrog`] from `src` (its momentum negated when `flip`) into `dst`: the same bits as
/// copying `src` into `dst`, flipping, and calling [`leapfrog`], which is what it does unless the
/// target has a [`Target::trajectory_separable`] kernel and the metric is diagonal; then the
/// kernel runs straight from `src` (no copy, no per-step checks) and only a trajectory that ends
/// with a non-finite value is redone the checked way. Returns the gradient evaluations.
#[allow(clippy::too_many_arguments)]
pub fn leapfrog_from<T: Target + ?Sized>(
    target: &T,
    metric: &Metric,
    eps: f64,
    n: usize,
    src: &Phase,
    flip: bool,
    dst: &mut Phase,
    v: &mut [f64],
) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above); no FMA contraction (see
            // `leapfrog`), so the same bits as the plain path.
            return unsafe { leapfrog_from_avx2(target, metric, eps, n, src, flip, dst, v) };
        }
    }
    leapfrog_from_body(target, metric, eps, n, src, flip, dst, v)
}

/// [`leapfrog_from`] compiled with AVX2 enabled.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn leapfrog_from_avx2<T: Target + ?Sized>(
    target: &T,
    metric: &Metric,
    eps: f64,
    n: usize,
    src: &Phase,
    flip: bool,
    dst: &mut Phase,
    v: &mut [f64],
) -> u64 {
    leapfrog_from_body(target, metric, eps, n, src, flip, dst, v)
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn leapfrog_from_body<T: Target + ?Sized>(
    target: &T,
    metric: &Metric,
    eps: f64,
    n: usize,
    src: &Phase,
    flip: bool,
    dst: &mut Phase,
    v: &mut [f64],
) -> u64 {
    if n > 0
        && src.ok()
        && let &Metric::Diag { ref minv, unit, .. } = metric
        && let start = (&src.x[..], &src.p[..], &src.g[..])
        && let Some(true) =
            target.trajectory_separable(minv, unit, eps, n, start, flip, &mut dst.x, &mut dst.p)
    {
        dst.e = sanitize(target.energy_grad(&dst.x, &mut dst.g));
        kick_last(eps, dst);
        return n as u64;
    }
    // no kernel, or a trajectory that diverged: from the start, the checked way
    dst.copy_from(src);
    if flip {
        dst.flip();
    }
    leapfrog_body(target, metric, eps, n, dst, v)
}

#[inline(always)]
fn leapfrog_body<T: Target + ?Sized>(
    target: &T,
    metric: &Metric,
    eps: f64,
    n: usize,
    z: &mut Phase,
    v: &mut [f64],
) -> u64 {
    if n == 0 || !z.ok() {
        return 0;
    }
    for k in 0..n {
        let kappa = if k == 0 { 0.5 * eps } else { eps };
        if k + 1 < n
            && let Metric::Diag { minv, .. } = metric
            && let Some(bad) = target.step_separable(minv, kappa, eps, &mut z.x, &mut z.p, &mut z.g)
        {
            if bad {
                z.e = f64::INFINITY;
                return k as u64;
            }
            continue;
        }
        if !kick_drift(metric, kappa, eps, z, v) {
            z.e = f64::INFINITY;
            return k as u64;
        }
        if k + 1 == n {
            z.e = sanitize(target.energy_grad(&z.x, &mut z.g));
        } else {
            target.grad(&z.x, &mut z.g);
        }
    }
    kick_last(eps, z);
    n as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hmc::target::Builtin;
    use rand::SeedableRng;

    fn start(t: &Builtin, x: Vec<f64>, p: Vec<f64>) -> Phase {
        let mut g = vec![0.0; x.len()];
        let e = t.energy_grad(&x, &mut g);
        Phase { x, p, g, e }
    }

    #[test]
    fn leapfrog_is_reversible() {
        let t = Builtin::RoughWell {
            d: 3,
            a: 10.0,
            b: 4.0,
        };
        let d = 3;
        let mut m = vec![0.0; 9];
        for i in 0..3 {
            m[i * 3 + i] = 1.0 + i as f64;
        }
        m[1] = 0.3;
        m[3] = 0.3;
        for metric in [
            Metric::identity(d),
            Metric::diag(vec![0.5, 2.0, 1.0]).unwrap(),
            Metric::dense(d, m).unwrap(),
        ] {
            let z0 = start(&t, vec![0.3, -1.2, 2.0], vec![0.7, 0.1, -0.4]);
            let mut z = z0.clone();
            let mut v = vec![0.0; d];
            assert_eq!(leapfrog(&t, &metric, 0.1, 25, &mut z, &mut v), 25);
            z.flip();
            leapfrog(&t, &metric, 0.1, 25, &mut z, &mut v);
            z.flip();
            for i in 0..d {
                assert!((z.x[i] - z0.x[i]).abs() < 1e-12 && (z.p[i] - z0.p[i]).abs() < 1e-12);
            }
        }
    }

    /// The fused kernel of the diagonal Gaussian against copy + flip + the checked leapfrog, bit
    /// for bit: unit and general diagonal metrics, odd and even step counts, both momentum
    /// directions, and trajectories that diverge (redone the checked way: same state and count).
    #[test]
    fn leapfrog_from_matches_copy_and_leapfrog() {
        use crate::hmc::target::DiagGaussian;
        use rand::RngExt;
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(5);
        let mut diverged = 0;
        for d in [1usize, 3, 7, 100] {
            let c: Vec<f64> = (0..d)
                .map(|i| 10f64.powf(-6.0 + 6.0 * i as f64 / d.max(2) as f64))
                .collect();
            let t = DiagGaussian { c: &c };
            let minv: Vec<f64> = (0..d).map(|_| 0.5 + rng.random::<f64>()).collect();
            for metric in [Metric::identity(d), Metric::diag(minv).unwrap()] {
                // ε 2.5 is unstable on the stiffest coordinate (c = 1): large n overflows
                for (eps, n) in [
                    (0.3, 1),
                    (0.3, 2),
                    (0.7, 5),
                    (1.0, 10),
                    (2.5, 3),
                    (2.5, 800),
                ] {
                    for flip in [false, true] {
                        let x: Vec<f64> =
                            (0..d).map(|i| rng.random::<f64>() / c[i].sqrt()).collect();
                        let p: Vec<f64> = (0..d).map(|_| rng.random::<f64>() - 0.5).collect();
                        let mut g = vec![0.0; d];
                        let e = t.energy_grad(&x, &mut g);
                        let src = Phase { x, p, g, e };
                        let mut want = src.clone();
                        if flip {
                            want.flip();
                        }
                        let mut v = vec![0.0; d];
                        let n_want = leapfrog(&t, &metric, eps, n, &mut want, &mut v);
                        let mut got = Phase::zeros(d);
                        let n_got =
                            leapfrog_from(&t, &metric, eps, n, &src, flip, &mut got, &mut v);
                        assert_eq!(n_got, n_want, "d {d} eps {eps} n {n}");
                        assert_eq!(got.e.to_bits(), want.e.to_bits(), "d {d} eps {eps} n {n}");
                        diverged += usize::from(!want.ok());
                        if want.ok() {
                            let bits = |z: &Phase| -> Vec<u64> {
                                z.x.iter()
                                    .chain(&z.p)
                                    .chain(&z.g)
                                    .map(|v| v.to_bits())
                                    .collect()
                            };
                            assert_eq!(bits(&got), bits(&want), "d {d} eps {eps} n {n}");
                        }
                    }
                }
            }
        }
        assert!(
            diverged > 0,
            "no trajectory diverged: the redo path went untested"
        );
    }

    #[test]
    fn energy_error_scales_as_step_squared() {
        // harmonic oscillator: the leapfrog energy error after a fixed time is O(ε²)
        let t = Builtin::GaussianDiag { c: vec![1.0, 4.0] };
        let metric = Metric::identity(2);
        let err = |eps: f64| {
            let mut z = start(&t, vec![1.0, 0.5], vec![0.3, -0.8]);
            let h0 = hamiltonian(&metric, &z);
            let mut v = vec![0.0; 2];
            let n = (1.0 / eps).round() as usize;
            let mut worst: f64 = 0.0;
            for _ in 0..n {
                leapfrog(&t, &metric, eps, 1, &mut z, &mut v);
                worst = worst.max((hamiltonian(&metric, &z) - h0).abs());
            }
            worst
        };
        let (a, b) = (err(0.02), err(0.01));
        let ratio = a / b;
        assert!((ratio - 4.0).abs() < 0.2, "ratio {ratio}");
    }

    #[test]
    fn dense_momenta_have_covariance_m() {
        let minv = vec![2.0, 0.6, 0.6, 1.0];
        let metric = Metric::dense(2, minv.clone()).unwrap();
        // M = inverse of minv
        let det = 2.0 * 1.0 - 0.36;
        let m: [f64; 4] = [1.0 / det, -0.6 / det, -0.6 / det, 2.0 / det];
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(1);
        let n = 200_000;
        let mut acc = [0.0; 4];
        let mut p = [0.0; 2];
        for _ in 0..n {
            metric.sample_momentum(&mut rng, &mut p);
            acc[0] += p[0] * p[0];
            acc[1] += p[0] * p[1];
            acc[3] += p[1] * p[1];
        }
        for (k, i) in [(0, 0), (1, 1), (3, 3)] {
            let est = acc[k] / n as f64;
            // sd of a second moment ≈ √2 σ² / √n; 5 sd
            let tol = 5.0 * 2f64.sqrt() * m[i].abs().max(m[0]) / (n as f64).sqrt();
            assert!((est - m[i]).abs() < tol, "entry {i}: {est} vs {}", m[i]);
        }
        // kinetic energy of p is pᵀ minv p / 2
        let p = [0.3, -1.1];
        let k = 0.5 * (2.0 * 0.09 + 2.0 * 0.6 * 0.3 * -1.1 + 1.21);
        assert!((metric.kinetic(&p) - k).abs() < 1e-15);
    }
}
