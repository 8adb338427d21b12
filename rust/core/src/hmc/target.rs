//! Targets: energies `E(x) = −ln π(x) + const` with their gradients.
//!
//! [`Target`] is a native target evaluated point by point (thread-safe, run on rayon);
//! [`BatchTarget`] is evaluated once for a whole batch of points (a Python callback: one call per
//! leapfrog step for all chains). [`Builtin`] holds the targets of the spec (§5) and logistic
//! regression.

use super::HmcError;
use crate::numeric::dot8;

/// A native target: energy and gradient at one point.
pub trait Target: Send + Sync {
    /// Dimension `d` of the state space.
    fn dim(&self) -> usize;
    /// Writes `∇E(x)` to `grad` (length `d`) and returns `E(x)`. A non-finite energy (overflow,
    /// a point outside the support) is allowed and read as `+∞` by the samplers.
    fn energy_grad(&self, x: &[f64], grad: &mut [f64]) -> f64;
    /// Writes `∇E(x)` to `grad`; used on the intermediate leapfrog steps, where the energy is not
    /// needed. Must write exactly what [`Target::energy_grad`] writes.
    fn grad(&self, x: &[f64], grad: &mut [f64]) {
        self.energy_grad(x, grad);
    }
    /// One intermediate leapfrog step with a diagonal metric `minv` in one pass, for targets
    /// whose gradient is elementwise (`∂E/∂x_i` depends on `x_i` alone): `p −= κ g`,
    /// `x += ε (minv ∘ p)`, `g = ∇E(x)`, element by element, the same bits as
    /// [`kick_drift`](super::metric::kick_drift) followed by [`Target::grad`]. Returns whether a
    /// momentum turned non-finite (then `g` is meaningless, as the trajectory is divergent), or
    /// `None` where the target has no such step (the default).
    fn step_separable(
        &self,
        _minv: &[f64],
        _kappa: f64,
        _eps: f64,
        _x: &mut [f64],
        _p: &mut [f64],
        _g: &mut [f64],
    ) -> Option<bool> {
        None
    }
    /// A whole trajectory of `n ≥ 1` leapfrog steps with the diagonal metric `minv` (`unit`: every
    /// entry is 1), for targets whose gradient is separable (coordinate `i` of `∇E` depends on
    /// `x_i` alone): from the start `(x0, ±p0, g0)` (`p0` negated when `flip`) it writes into
    /// `(x, p)` the state after the `n`-th kick-and-drift, before the final gradient, in exactly the
    /// arithmetic of [`leapfrog`](super::metric::leapfrog) coordinate by coordinate, but without
    /// its per-step finiteness checks (several steps per pass over the coordinates, the gradient
    /// recomputed from `x` instead of stored). Returns whether every value of `x` and `p` is finite
    /// at the end — a non-finite value never turns finite again in this recurrence, so `true`
    /// means no step diverged — or `None` where the target has no such kernel (the default).
    #[allow(clippy::too_many_arguments)]
    fn trajectory_separable(
        &self,
        _minv: &[f64],
        _unit: bool,
        _eps: f64,
        _n: usize,
        _start: (&[f64], &[f64], &[f64]),
        _flip: bool,
        _x: &mut [f64],
        _p: &mut [f64],
    ) -> Option<bool> {
        None
    }
    /// Whether [`Target::grad_lanes`] is implemented (small built-in targets).
    fn has_lanes(&self) -> bool {
        false
    }
    /// `∇E` (and with `e`, `E`) of [`LANES`] points at once, held coordinate-major: `x[i][r]` is
    /// coordinate `i` of point `r` (`x.len() = d`). Lane by lane it must give exactly the bits of
    /// [`Target::energy_grad`]. Only called when [`Target::has_lanes`] is true.
    fn grad_lanes(
        &self,
        _x: &[[f64; LANES]],
        _g: &mut [[f64; LANES]],
        _e: Option<&mut [f64; LANES]>,
    ) {
    }
}

/// Points evaluated together by [`Target::grad_lanes`].
pub const LANES: usize = 16;

/// A target evaluated for a whole batch of points at once.
pub trait BatchTarget {
    /// Dimension `d` of the state space.
    fn dim(&self) -> usize;
    /// `xs` holds `n` points row by row (`n × d`); writes the `n` energies and the `n × d`
    /// gradients.
    ///
    /// # Errors
    /// Whatever the target reports (a failing callback, a result of the wrong shape).
    fn energy_grad_batch(
        &mut self,
        xs: &[f64],
        energies: &mut [f64],
        grads: &mut [f64],
    ) -> Result<(), HmcError>;
}

/// Runs a native target through the batched interface (used to check that the batched driver
/// reproduces the per-chain driver bit for bit).
#[derive(Debug)]
pub struct AsBatch<'a, T: ?Sized>(pub &'a T);

impl<T: Target + ?Sized> BatchTarget for AsBatch<'_, T> {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn energy_grad_batch(
        &mut self,
        xs: &[f64],
        energies: &mut [f64],
        grads: &mut [f64],
    ) -> Result<(), HmcError> {
        let d = self.0.dim();
        for (i, e) in energies.iter_mut().enumerate() {
            *e = self
                .0
                .energy_grad(&xs[i * d..(i + 1) * d], &mut grads[i * d..(i + 1) * d]);
        }
        Ok(())
    }
}

/// The built-in targets (spec §5) and logistic regression.
#[derive(Debug, Clone, PartialEq)]
pub enum Builtin {
    /// `E = Σ c_i x_i² / 2` (a diagonal Gaussian with precisions `c`).
    GaussianDiag {
        /// Precisions `c_i > 0`.
        c: Vec<f64>,
    },
    /// `E = xᵀ J x / 2` with a symmetric positive-definite precision `J` (`d × d`, row-major).
    GaussianDense {
        /// Dimension.
        d: usize,
        /// The precision matrix, row-major.
        j: Vec<f64>,
    },
    /// `E = Σ_i [x_i² / (2a²) + cos(2π x_i / b)]`.
    RoughWell {
        /// Dimension.
        d: usize,
        /// Width of the Gaussian envelope.
        a: f64,
        /// Period of the ripples.
        b: f64,
    },
    /// `E = Σ_j (ν_j + 1)/2 · ln(1 + (w_j·x + b_j)² / ν_j)` (standard Student-t experts).
    ProductOfT {
        /// Dimension of `x`.
        d: usize,
        /// Expert filters, `n_experts × d`, row-major.
        w: Vec<f64>,
        /// Offsets, one per expert.
        b: Vec<f64>,
        /// Degrees of freedom, one per expert (> 0).
        nu: Vec<f64>,
    },
    /// `E = −ln(exp(−‖x − m‖²) + exp(−‖x + m‖²))`.
    Bimodal {
        /// The mode `m` (the other one is `−m`).
        m: Vec<f64>,
    },
    /// Neal's funnel: `E = x₀²/(2σ²) + Σ_{i>0} [x_i² e^{−x₀}/2 + x₀/2]`.
    Funnel {
        /// Dimension (≥ 2).
        d: usize,
        /// Scale of the neck coordinate `x₀`.
        sigma: f64,
    },
    /// Bayesian logistic regression: `E(w) = Σ_i [softplus(x_i·w) − y_i x_i·w] + ‖w‖²/(2 s²)`.
    Logistic {
        /// Features, `n × d`, row-major.
        x: Vec<f64>,
        /// Labels in {0, 1}.
        y: Vec<f64>,
        /// Number of coefficients `d`.
        d: usize,
        /// Prior standard deviation `s` of every coefficient.
        prior_scale: f64,
    },
}

fn bad(arg: &'static str, msg: String) -> HmcError {
    HmcError::Invalid { arg, msg }
}

fn check_finite(arg: &'static str, v: &[f64]) -> Result<(), HmcError> {
    match v.iter().position(|t| !t.is_finite()) {
        Some(i) => Err(bad(arg, format!("entry {i} is not finite ({})", v[i]))),
        None => Ok(()),
    }
}

/// Lower Cholesky factor of a symmetric positive-definite `d × d` matrix (row-major), or `None`.
pub fn cholesky(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut s = a[i * d + j];
            for k in 0..j {
                s -= l[i * d + k] * l[j * d + k];
            }
            if i == j {
                if s.is_nan() || s <= 0.0 {
                    return None;
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Some(l)
}

/// Checks that `a` (`d × d`) is finite, symmetric (to 1e-10 relative) and positive definite.
pub fn check_spd(arg: &'static str, a: &[f64], d: usize) -> Result<Vec<f64>, HmcError> {
    if a.len() != d * d {
        return Err(bad(
            arg,
            format!("expected {d}×{d} = {} entries, got {}", d * d, a.len()),
        ));
    }
    check_finite(arg, a)?;
    for i in 0..d {
        for j in 0..i {
            let (u, v) = (a[i * d + j], a[j * d + i]);
            if (u - v).abs() > 1e-10 * u.abs().max(v.abs()).max(f64::MIN_POSITIVE) {
                return Err(bad(
                    arg,
                    format!("not symmetric: entry ({i}, {j}) = {u} but ({j}, {i}) = {v}"),
                ));
            }
        }
    }
    cholesky(a, d).ok_or_else(|| bad(arg, "not positive definite".into()))
}

impl Builtin {
    /// Checks the parameters.
    ///
    /// # Errors
    /// [`HmcError::Invalid`] naming the bad parameter.
    pub fn validate(&self) -> Result<(), HmcError> {
        match self {
            Builtin::GaussianDiag { c } => {
                if c.is_empty() {
                    return Err(bad("dim", "must be ≥ 1".into()));
                }
                check_finite("precisions", c)?;
                if let Some(i) = c.iter().position(|&t| t <= 0.0) {
                    return Err(bad(
                        "precisions",
                        format!("entry {i} is {} (must be > 0)", c[i]),
                    ));
                }
            }
            Builtin::GaussianDense { d, j } => {
                if *d == 0 {
                    return Err(bad("precision", "must be at least 1×1".into()));
                }
                check_spd("precision", j, *d)?;
            }
            Builtin::RoughWell { d, a, b } => {
                if *d == 0 {
                    return Err(bad("dim", "must be ≥ 1".into()));
                }
                for (n, v) in [("a", *a), ("b", *b)] {
                    if !(v.is_finite() && v > 0.0) {
                        return Err(bad(
                            if n == "a" { "a" } else { "b" },
                            format!("must be finite and > 0, got {v}"),
                        ));
                    }
                }
            }
            Builtin::ProductOfT { d, w, b, nu } => {
                if *d == 0 || nu.is_empty() {
                    return Err(bad(
                        "w",
                        "needs at least one expert and one dimension".into(),
                    ));
                }
                if w.len() != nu.len() * d {
                    return Err(bad(
                        "w",
                        format!("expected {} × {d} entries, got {}", nu.len(), w.len()),
                    ));
                }
                if b.len() != nu.len() {
                    return Err(bad(
                        "b",
                        format!("expected {} offsets, got {}", nu.len(), b.len()),
                    ));
                }
                check_finite("w", w)?;
                check_finite("b", b)?;
                check_finite("nu", nu)?;
                if let Some(i) = nu.iter().position(|&t| t <= 0.0) {
                    return Err(bad("nu", format!("entry {i} is {} (must be > 0)", nu[i])));
                }
            }
            Builtin::Bimodal { m } => {
                if m.is_empty() {
                    return Err(bad("dim", "must be ≥ 1".into()));
                }
                check_finite("separation", m)?;
            }
            Builtin::Funnel { d, sigma } => {
                if *d < 2 {
                    return Err(bad("dim", format!("must be ≥ 2, got {d}")));
                }
                if !(sigma.is_finite() && *sigma > 0.0) {
                    return Err(bad("sigma", format!("must be finite and > 0, got {sigma}")));
                }
            }
            Builtin::Logistic {
                x,
                y,
                d,
                prior_scale,
            } => {
                if *d == 0 || y.is_empty() {
                    return Err(bad("x", "needs at least one row and one column".into()));
                }
                if x.len() != y.len() * d {
                    return Err(bad(
                        "x",
                        format!("expected {} × {d} entries, got {}", y.len(), x.len()),
                    ));
                }
                check_finite("x", x)?;
                if let Some(i) = y.iter().position(|&t| t != 0.0 && t != 1.0) {
                    return Err(bad(
                        "y",
                        format!("labels must be 0 or 1, entry {i} is {}", y[i]),
                    ));
                }
                if !(prior_scale.is_finite() && *prior_scale > 0.0) {
                    return Err(bad(
                        "prior_scale",
                        format!("must be finite and > 0, got {prior_scale}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The anisotropic Gaussian of the papers: `c_i = 10^(−s + s(i−1)/(d−1))` (`c = 1` for `d = 1`).
    pub fn gaussian_aniso(d: usize, log10_cond: f64) -> Self {
        let c = (0..d)
            .map(|i| {
                if d == 1 {
                    1.0
                } else {
                    10f64.powf(-log10_cond + log10_cond * i as f64 / (d - 1) as f64)
                }
            })
            .collect();
        Builtin::GaussianDiag { c }
    }
}

/// `(softplus(t), sigmoid(t))` from one exponential, bit for bit what [`softplus`] and
/// [`sigmoid`] give.
#[inline]
fn softplus_sigmoid(t: f64) -> (f64, f64) {
    let e = (-t.abs()).exp();
    if t > 0.0 {
        (t + e.ln_1p(), 1.0 / (1.0 + e))
    } else if t == 0.0 {
        (e.ln_1p(), 1.0 / (1.0 + e))
    } else {
        (e.ln_1p(), e / (1.0 + e))
    }
}

/// The plain form of [`softplus_sigmoid`]'s first half (its test's reference).
#[cfg(test)]
fn softplus(t: f64) -> f64 {
    if t > 0.0 {
        t + (-t).exp().ln_1p()
    } else {
        t.exp().ln_1p()
    }
}

#[inline]
fn sigmoid(t: f64) -> f64 {
    if t >= 0.0 {
        1.0 / (1.0 + (-t).exp())
    } else {
        let e = t.exp();
        e / (1.0 + e)
    }
}

/// `(sin 2πt, cos 2πt)` to about one ulp, several times faster than `(2πt).sin_cos()` (which is
/// two libm calls): exact reduction to `r = 2π(t − n/4)`, `|r| ≤ π/4` (`t − n/4` is exact), the
/// fdlibm kernel polynomials on `r`, and the quadrant `n mod 4`. NaN or ±∞ in, NaN out.
///
/// Branch-free for `|t| < 2^48` (every realistic argument): `n` is rounded to nearest (ties to
/// even) by the `1.5·2^52` trick, whose low mantissa bits are `n mod 4`, and the quadrant picks
/// and negates the two kernels with bit masks (no libm `round` / `fmod` call, no mispredicted
/// branch). Larger or non-finite arguments take the same reduction with library rounding.
#[inline(always)]
pub fn sin_cos_turns(t: f64) -> (f64, f64) {
    let (n, q) = round_parts(t, 4);
    reduced_sin_cos(t, n, q)
}

/// `1.5 · 2^52`: adding it to `|y| < 2^51` rounds `y` to an integer (ties to even), held in the
/// low mantissa bits.
const MAGIC: f64 = 6_755_399_441_055_744.0;
/// The bound below which [`round_parts`] takes the branch-free path.
const BRANCH_FREE_BELOW: f64 = 281_474_976_710_656.0; // 2^48

/// `n`, `k t` rounded to an integer (ties to even), and `n mod k`, for `k` = 2 or 4: by the
/// [`MAGIC`] trick when `|k t| < 2^48`, else by library rounding and a floating-point `mod`
/// (exact, so huge `|t|` cannot overflow an integer conversion; NaN gives `n mod k = 0`).
#[inline(always)]
fn round_parts(t: f64, k: u64) -> (f64, u64) {
    let kt = k as f64 * t;
    if kt.abs() < BRANCH_FREE_BELOW {
        let m = kt + MAGIC;
        (m - MAGIC, m.to_bits() & (k - 1))
    } else {
        let n = kt.round();
        let q = n.rem_euclid(k as f64);
        (n, if q.is_finite() { q as u64 } else { 0 })
    }
}

/// Whether every `|k t_i|` is below `2^48` (a non-short-circuit AND over the lanes: one vector
/// compare, no branch per lane).
#[inline(always)]
fn all_branch_free(t: &[f64], k: f64) -> bool {
    t.iter()
        .fold(true, |ok, &ti| ok & ((k * ti).abs() < BRANCH_FREE_BELOW))
}

/// `(sin 2πt, cos 2πt)` from `n` (`4t` rounded to an integer) and `q = n mod 4`: the kernels on
/// `r = 2π(t − n/4)`, then the quadrant picks and negates them with bit masks:
/// `(s, c), (c, −s), (−s, −c), (−c, s)`.
#[inline(always)]
fn reduced_sin_cos(t: f64, n: f64, q: u64) -> (f64, f64) {
    let (sin_r, cos_r) = sin_cos_kernel((t - 0.25 * n) * (2.0 * std::f64::consts::PI));
    let swap = 0u64.wrapping_sub(q & 1);
    let (sb, cb) = (sin_r.to_bits(), cos_r.to_bits());
    let s = (sb & !swap) | (cb & swap);
    let c = (cb & !swap) | (sb & swap);
    (
        f64::from_bits(s ^ ((q & 2) << 62)),
        f64::from_bits(c ^ (((q + 1) & 2) << 62)),
    )
}

/// `sin 2πt` alone, to about one ulp, in about half the work of [`sin_cos_turns`] (the rough
/// well's gradient needs no cosine): exact reduction to `r = 2π(t − n/2)`, `|r| ≤ π/2`, one odd
/// polynomial of degree 17 on `r` (near-minimax, relative error below 3·10⁻¹⁹ in exact
/// arithmetic), and the sign `(−1)^n`. Branch-free for `|t| < 2^47`; NaN or ±∞ in, NaN out.
#[inline(always)]
pub fn sin_turns(t: f64) -> f64 {
    let (n, odd) = round_parts(t, 2);
    reduced_sin(t, n, odd)
}

/// [`sin_turns`] of `N` arguments at once, bit for bit the same values (the lanes side by side
/// when every `|2t|` is below `2^48`, else one by one).
#[inline(always)]
pub fn sin_turns_n<const N: usize>(t: [f64; N]) -> [f64; N] {
    let mut s = [0.0; N];
    for i in 0..N {
        let m = 2.0 * t[i] + MAGIC;
        s[i] = reduced_sin(t[i], m - MAGIC, m.to_bits() & 1);
    }
    // (one straight SIMD path; the rare huge or non-finite lanes are redone out of line)
    if !all_branch_free(&t, 2.0) {
        sin_turns_slow(&t, &mut s);
    }
    s
}

#[cold]
#[inline(never)]
fn sin_turns_slow(t: &[f64], s: &mut [f64]) {
    for (si, &ti) in s.iter_mut().zip(t) {
        *si = sin_turns(ti);
    }
}

/// `sin 2πt` from `n` (`2t` rounded to an integer) and `odd = n mod 2`: `(−1)^n sin r` with
/// `r = 2π(t − n/2)` (`t − n/2` is exact).
#[inline(always)]
fn reduced_sin(t: f64, n: f64, odd: u64) -> f64 {
    // sin r = r + r z P(z), z = r², |r| ≤ π/2: P fitted for the relative error (Lawson
    // iterations on 400 Chebyshev nodes at 50 digits)
    const P: [f64; 8] = [
        -0.166_666_666_666_666_66,
        0.008_333_333_333_333_194,
        -0.000_198_412_698_412_092_18,
        2.755_731_921_113_718e-6,
        -2.505_210_687_279_480_8e-8,
        1.605_893_970_556_207e-10,
        -7.642_991_481_405_586e-13,
        2.721_174_886_198_008e-15,
    ];
    let r = (t - 0.5 * n) * (2.0 * std::f64::consts::PI);
    let z = r * r;
    let p = P[0]
        + z * (P[1] + z * (P[2] + z * (P[3] + z * (P[4] + z * (P[5] + z * (P[6] + z * P[7]))))));
    let s = r + (r * z) * p;
    f64::from_bits(s.to_bits() ^ (odd << 63))
}

/// The rough well as its own type, so that a sampler run on it is compiled for it alone (the
/// energy and gradient inlined into the leapfrog loop, no dispatch on [`Builtin`] per step).
/// Same values as `Builtin::RoughWell`, bit for bit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoughWell {
    /// Dimension.
    pub d: usize,
    /// Width of the quadratic well.
    pub a: f64,
    /// Period of the cosine ripples.
    pub b: f64,
}

impl Target for RoughWell {
    fn dim(&self) -> usize {
        self.d
    }
    #[inline(always)]
    fn energy_grad(&self, x: &[f64], g: &mut [f64]) -> f64 {
        rough_well(x, g, self.a, self.b)
    }
    #[inline(always)]
    fn grad(&self, x: &[f64], g: &mut [f64]) {
        rough_well_grad(x, g, self.a, self.b);
    }
    fn has_lanes(&self) -> bool {
        true
    }
    #[inline(always)]
    fn grad_lanes(&self, x: &[[f64; LANES]], g: &mut [[f64; LANES]], e: Option<&mut [f64; LANES]>) {
        let ia2 = 1.0 / (self.a * self.a);
        let ib = 1.0 / self.b;
        let k = 2.0 * std::f64::consts::PI / self.b;
        for (xi, gi) in x.iter().zip(g.iter_mut()) {
            let mut t = [0.0; LANES];
            for r in 0..LANES {
                t[r] = xi[r] * ib;
            }
            let s = sin_turns_n(t);
            for r in 0..LANES {
                gi[r] = xi[r] * ia2 - k * s[r];
            }
        }
        if let Some(e) = e {
            let mut acc = [0.0; LANES];
            for xi in x {
                let mut t = [0.0; LANES];
                for r in 0..LANES {
                    t[r] = xi[r] * ib;
                }
                let (_, c) = sin_cos_turns_n(t);
                for r in 0..LANES {
                    acc[r] += 0.5 * xi[r] * xi[r] * ia2 + c[r];
                }
            }
            *e = acc;
        }
    }
}

/// The diagonal Gaussian `E = Σ c_i x_i² / 2` as its own type (see [`RoughWell`]); same values
/// as `Builtin::GaussianDiag`, bit for bit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiagGaussian<'a> {
    /// Precisions.
    pub c: &'a [f64],
}

impl Target for DiagGaussian<'_> {
    fn dim(&self) -> usize {
        self.c.len()
    }
    #[inline(always)]
    fn energy_grad(&self, x: &[f64], g: &mut [f64]) -> f64 {
        diag_gaussian(self.c, x, g)
    }
    #[inline(always)]
    fn grad(&self, x: &[f64], g: &mut [f64]) {
        for ((gi, &xi), &ci) in g.iter_mut().zip(x).zip(self.c) {
            *gi = ci * xi;
        }
    }
    #[inline(always)]
    fn step_separable(
        &self,
        minv: &[f64],
        kappa: f64,
        eps: f64,
        x: &mut [f64],
        p: &mut [f64],
        g: &mut [f64],
    ) -> Option<bool> {
        let d = self.c.len();
        let (x, p, g, minv, c) = (
            &mut x[..d],
            &mut p[..d],
            &mut g[..d],
            &minv[..d],
            &self.c[..d],
        );
        let mut bad = 0u64;
        for i in 0..d {
            let (xi, pi) = kick_drift_1::<false>(x[i], p[i], g[i], minv[i], kappa, eps);
            bad |= super::metric::non_finite(pi);
            p[i] = pi;
            x[i] = xi;
            g[i] = c[i] * xi;
        }
        Some(bad != 0)
    }
    #[inline(always)]
    fn trajectory_separable(
        &self,
        minv: &[f64],
        unit: bool,
        eps: f64,
        n: usize,
        start: (&[f64], &[f64], &[f64]),
        flip: bool,
        x: &mut [f64],
        p: &mut [f64],
    ) -> Option<bool> {
        Some(if unit {
            diag_gaussian_trajectory::<true>(self.c, minv, eps, n, start, flip, x, p)
        } else {
            diag_gaussian_trajectory::<false>(self.c, minv, eps, n, start, flip, x, p)
        })
    }
    fn has_lanes(&self) -> bool {
        true
    }
    #[inline(always)]
    fn grad_lanes(&self, x: &[[f64; LANES]], g: &mut [[f64; LANES]], e: Option<&mut [f64; LANES]>) {
        for ((xi, gi), &ci) in x.iter().zip(g.iter_mut()).zip(self.c) {
            for r in 0..LANES {
                gi[r] = ci * xi[r];
            }
        }
        if let Some(e) = e {
            // the partial sums of `diag_gaussian`, in its order
            let d = x.len();
            let n4 = d / 4 * 4;
            for r in 0..LANES {
                let mut acc = [0.0; 4];
                for i in 0..n4 {
                    acc[i % 4] += g[i][r] * x[i][r];
                }
                let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
                for i in n4..d {
                    s += g[i][r] * x[i][r];
                }
                e[r] = 0.5 * s;
            }
        }
    }
}

/// One kick-and-drift of a coordinate: `p − κ g`, then `x + ε (m p)` (`m p = p` exactly when `UNIT`).
#[inline(always)]
fn kick_drift_1<const UNIT: bool>(
    x: f64,
    p: f64,
    g: f64,
    m: f64,
    kappa: f64,
    eps: f64,
) -> (f64, f64) {
    let p = p - kappa * g;
    let v = if UNIT { p } else { m * p };
    (x + eps * v, p)
}

/// [`Target::trajectory_separable`] of the diagonal Gaussian (`∇E_i = c_i x_i`): two leapfrog
/// steps per pass over the coordinates, `x` and `p` read and written once per pass, the gradient
/// recomputed from `x` (the same product `c_i x_i` that [`DiagGaussian::grad`] stores).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn diag_gaussian_trajectory<const UNIT: bool>(
    c: &[f64],
    minv: &[f64],
    eps: f64,
    n: usize,
    (x0, p0, g0): (&[f64], &[f64], &[f64]),
    flip: bool,
    x: &mut [f64],
    p: &mut [f64],
) -> bool {
    let d = c.len();
    let (c, minv, x0, p0, g0) = (&c[..d], &minv[..d], &x0[..d], &p0[..d], &g0[..d]);
    let (x, p) = (&mut x[..d], &mut p[..d]);
    let half = 0.5 * eps;
    // steps 0 and 1 (step 0 kicks by ε/2 with the cached gradient), from the start
    let two = n >= 2;
    for i in 0..d {
        let p_i = if flip { -p0[i] } else { p0[i] };
        let (mut xi, mut pi) = kick_drift_1::<UNIT>(x0[i], p_i, g0[i], minv[i], half, eps);
        if two {
            (xi, pi) = kick_drift_1::<UNIT>(xi, pi, c[i] * xi, minv[i], eps, eps);
        }
        x[i] = xi;
        p[i] = pi;
    }
    // the rest, two steps per pass, then the odd one out
    let mut k = if two { 2 } else { 1 };
    while k + 1 < n {
        for i in 0..d {
            let (xi, pi) = kick_drift_1::<UNIT>(x[i], p[i], c[i] * x[i], minv[i], eps, eps);
            let (xi, pi) = kick_drift_1::<UNIT>(xi, pi, c[i] * xi, minv[i], eps, eps);
            x[i] = xi;
            p[i] = pi;
        }
        k += 2;
    }
    if k < n {
        for i in 0..d {
            (x[i], p[i]) = kick_drift_1::<UNIT>(x[i], p[i], c[i] * x[i], minv[i], eps, eps);
        }
    }
    let mut bad = 0u64;
    for i in 0..d {
        bad |= super::metric::non_finite(x[i]) | super::metric::non_finite(p[i]);
    }
    bad == 0
}

#[inline(always)]
fn diag_gaussian(c: &[f64], x: &[f64], g: &mut [f64]) -> f64 {
    // four partial sums so the reduction vectorises
    let mut acc = [0.0; 4];
    let n4 = x.len() / 4 * 4;
    for ((gs, xs), cs) in g[..n4]
        .chunks_exact_mut(4)
        .zip(x[..n4].chunks_exact(4))
        .zip(c[..n4].chunks_exact(4))
    {
        for k in 0..4 {
            let t = cs[k] * xs[k];
            gs[k] = t;
            acc[k] += t * xs[k];
        }
    }
    let mut e = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for i in n4..x.len() {
        let t = c[i] * x[i];
        g[i] = t;
        e += t * x[i];
    }
    0.5 * e
}

/// [`sin_cos_turns`] of `N` arguments at once, bit for bit the same values: when every `|4t|` is
/// below `2^48` the lanes run the branch-free path side by side (the compiler packs them into
/// SIMD registers); otherwise each lane goes through [`sin_cos_turns`].
#[inline(always)]
pub fn sin_cos_turns_n<const N: usize>(t: [f64; N]) -> ([f64; N], [f64; N]) {
    let mut s = [0.0; N];
    let mut c = [0.0; N];
    if !all_branch_free(&t, 4.0) {
        for i in 0..N {
            (s[i], c[i]) = sin_cos_turns(t[i]);
        }
        return (s, c);
    }
    for i in 0..N {
        let m = 4.0 * t[i] + MAGIC;
        (s[i], c[i]) = reduced_sin_cos(t[i], m - MAGIC, m.to_bits() & 3);
    }
    (s, c)
}

/// Energy and gradient of the rough well, two coordinates at a time (the same bits as one at
/// a time: the energy is still summed coordinate by coordinate, in order). The energy's cosines
/// come from [`sin_cos_turns`], the gradient's sines from [`sin_turns`] (as in
/// [`rough_well_grad`] and the lane kernel, so every path gives the same gradient).
#[inline(always)]
fn rough_well(x: &[f64], g: &mut [f64], a: f64, b: f64) -> f64 {
    let ia2 = 1.0 / (a * a);
    let ib = 1.0 / b;
    let mut e = 0.0;
    let mut xs = x.chunks_exact(2);
    for xp in &mut xs {
        let (_, c) = sin_cos_turns_n([xp[0] * ib, xp[1] * ib]);
        for i in 0..2 {
            e += 0.5 * xp[i] * xp[i] * ia2 + c[i];
        }
    }
    for &xi in xs.remainder() {
        let (_, c) = sin_cos_turns(xi * ib);
        e += 0.5 * xi * xi * ia2 + c;
    }
    rough_well_grad(x, g, a, b);
    e
}

/// The rough well's gradient `x/a² − (2π/b) sin(2πx/b)`, two coordinates at a time.
#[inline(always)]
fn rough_well_grad(x: &[f64], g: &mut [f64], a: f64, b: f64) {
    let ia2 = 1.0 / (a * a);
    let ib = 1.0 / b;
    let k = 2.0 * std::f64::consts::PI / b;
    let mut xs = x.chunks_exact(2);
    let mut gs = g.chunks_exact_mut(2);
    for (xp, gp) in (&mut xs).zip(&mut gs) {
        let s = sin_turns_n([xp[0] * ib, xp[1] * ib]);
        for i in 0..2 {
            gp[i] = xp[i] * ia2 - k * s[i];
        }
    }
    for (gi, &xi) in gs.into_remainder().iter_mut().zip(xs.remainder()) {
        *gi = xi * ia2 - k * sin_turns(xi * ib);
    }
}

/// The fdlibm kernels `(sin r, cos r)` for `|r| ≤ π/4`.
#[inline(always)]
fn sin_cos_kernel(r: f64) -> (f64, f64) {
    const S: [f64; 6] = [
        -1.666_666_666_666_663_2e-1,
        8.333_333_333_322_49e-3,
        -1.984_126_982_985_795e-4,
        2.755_731_370_707_006_8e-6,
        -2.505_076_025_340_686_3e-8,
        1.589_690_995_211_55e-10,
    ];
    const C: [f64; 6] = [
        4.166_666_666_666_66e-2,
        -1.388_888_888_887_411e-3,
        2.480_158_728_947_673e-5,
        -2.755_731_435_139_066_3e-7,
        2.087_572_321_298_175e-9,
        -1.135_964_755_778_819_5e-11,
    ];
    let z = r * r;
    let ps = S[1] + z * (S[2] + z * (S[3] + z * (S[4] + z * S[5])));
    let sin_r = r + r * z * (S[0] + z * ps);
    let pc = C[0] + z * (C[1] + z * (C[2] + z * (C[3] + z * (C[4] + z * C[5]))));
    let hz = 0.5 * z;
    let w = 1.0 - hz;
    let cos_r = w + (((1.0 - w) - hz) + z * z * pc);
    (sin_r, cos_r)
}

impl Target for Builtin {
    #[inline]
    fn grad(&self, x: &[f64], g: &mut [f64]) {
        match self {
            Builtin::GaussianDiag { c } => {
                for ((gi, &xi), &ci) in g.iter_mut().zip(x).zip(c) {
                    *gi = ci * xi;
                }
            }
            Builtin::GaussianDense { d, j } => {
                for (i, gi) in g.iter_mut().enumerate() {
                    *gi = j[i * d..(i + 1) * d]
                        .iter()
                        .zip(x)
                        .map(|(a, b)| a * b)
                        .sum();
                }
            }
            &Builtin::RoughWell { a, b, .. } => rough_well_grad(x, g, a, b),
            _ => {
                self.energy_grad(x, g);
            }
        }
    }

    fn dim(&self) -> usize {
        match self {
            Builtin::GaussianDiag { c } => c.len(),
            Builtin::Bimodal { m } => m.len(),
            Builtin::GaussianDense { d, .. }
            | Builtin::RoughWell { d, .. }
            | Builtin::ProductOfT { d, .. }
            | Builtin::Funnel { d, .. }
            | Builtin::Logistic { d, .. } => *d,
        }
    }

    #[inline]
    fn energy_grad(&self, x: &[f64], g: &mut [f64]) -> f64 {
        match self {
            Builtin::GaussianDiag { c } => diag_gaussian(c, x, g),
            Builtin::GaussianDense { d, j } => {
                let mut e = 0.0;
                for (i, gi) in g.iter_mut().enumerate() {
                    let row = &j[i * d..(i + 1) * d];
                    let t: f64 = row.iter().zip(x).map(|(a, b)| a * b).sum();
                    *gi = t;
                    e += t * x[i];
                }
                0.5 * e
            }
            Builtin::RoughWell { a, b, .. } => rough_well(x, g, *a, *b),
            Builtin::ProductOfT { d, w, b, nu } => {
                g.fill(0.0);
                let mut e = 0.0;
                for (jx, (&bj, &nj)) in b.iter().zip(nu).enumerate() {
                    let row = &w[jx * d..(jx + 1) * d];
                    let u: f64 = row.iter().zip(x).map(|(a, c)| a * c).sum::<f64>() + bj;
                    e += 0.5 * (nj + 1.0) * (u * u / nj).ln_1p();
                    let coef = (nj + 1.0) * u / (nj + u * u);
                    for (gi, &wi) in g.iter_mut().zip(row) {
                        *gi += coef * wi;
                    }
                }
                e
            }
            Builtin::Bimodal { m } => {
                let (mut a, mut c) = (0.0, 0.0);
                for (&xi, &mi) in x.iter().zip(m) {
                    a += (xi - mi) * (xi - mi);
                    c += (xi + mi) * (xi + mi);
                }
                // E = −ln(e^{−a} + e^{−c}) = min(a, c) − ln(1 + e^{−|a − c|})
                let e = a.min(c) - (-(a - c).abs()).exp().ln_1p();
                let wa = sigmoid(c - a); // weight of the +m mode
                let wc = 1.0 - wa;
                for ((gi, &xi), &mi) in g.iter_mut().zip(x).zip(m) {
                    *gi = 2.0 * (wa * (xi - mi) + wc * (xi + mi));
                }
                e
            }
            Builtin::Funnel { sigma, .. } => {
                let x0 = x[0];
                let en = (-x0).exp();
                let mut e = 0.5 * x0 * x0 / (sigma * sigma);
                let mut g0 = x0 / (sigma * sigma);
                for (gi, &xi) in g[1..].iter_mut().zip(&x[1..]) {
                    e += 0.5 * xi * xi * en + 0.5 * x0;
                    g0 += 0.5 - 0.5 * xi * xi * en;
                    *gi = xi * en;
                }
                g[0] = g0;
                e
            }
            Builtin::Logistic {
                x: feat,
                y,
                d,
                prior_scale,
            } => {
                let is2 = 1.0 / (prior_scale * prior_scale);
                let mut e = 0.0;
                for (gi, &wi) in g.iter_mut().zip(x) {
                    *gi = wi * is2;
                    e += 0.5 * wi * wi * is2;
                }
                for (row, &yi) in feat.chunks_exact(*d).zip(y) {
                    let t = dot8(row, x);
                    let (sp, sg) = softplus_sigmoid(t);
                    e += sp - yi * t;
                    let r = sg - yi;
                    for (gi, &xi) in g.iter_mut().zip(row) {
                        *gi += r * xi;
                    }
                }
                e
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fd_check(t: &Builtin, x: &[f64]) -> f64 {
        let d = t.dim();
        let mut g = vec![0.0; d];
        let mut tmp = vec![0.0; d];
        t.energy_grad(x, &mut g);
        let mut worst: f64 = 0.0;
        for i in 0..d {
            let h = 1e-5 * x[i].abs().max(1.0);
            let mut xp = x.to_vec();
            xp[i] += h;
            let ep = t.energy_grad(&xp, &mut tmp);
            xp[i] -= 2.0 * h;
            let em = t.energy_grad(&xp, &mut tmp);
            let fd = (ep - em) / (2.0 * h);
            let scale = g[i].abs().max(1e-2);
            worst = worst.max((fd - g[i]).abs() / scale);
        }
        worst
    }

    #[test]
    fn builtins_pass_finite_difference_checks() {
        let mut rng = crate::rng::SplitMix64::new(3, 0);
        let mut u = |s: f64| s * (2.0 * rng.next_f64() - 1.0);
        let d = 6;
        let mut j = vec![0.0; d * d];
        for i in 0..d {
            for k in 0..d {
                j[i * d + k] = if i == k {
                    3.0
                } else {
                    0.3 / (1.0 + (i + k) as f64)
                };
            }
        }
        let wm: Vec<f64> = (0..d * d)
            .map(|i| {
                if i % (d + 1) == 0 {
                    1.0
                } else {
                    0.1 * ((i * 7 % 5) as f64 - 2.0)
                }
            })
            .collect();
        let feat: Vec<f64> = (0..20 * d)
            .map(|i| ((i * 13 % 17) as f64 - 8.0) / 5.0)
            .collect();
        let y: Vec<f64> = (0..20).map(|i| (i % 3 == 0) as u8 as f64).collect();
        let targets = vec![
            Builtin::gaussian_aniso(d, 2.0),
            Builtin::GaussianDense { d, j },
            Builtin::RoughWell {
                d,
                a: 100.0,
                b: 4.0,
            },
            Builtin::ProductOfT {
                d,
                w: wm,
                b: vec![0.1; d],
                nu: (0..d).map(|i| 2.1 + 0.3 * i as f64).collect(),
            },
            Builtin::Bimodal {
                m: (0..d).map(|i| if i == 0 { 1.0 } else { 0.0 }).collect(),
            },
            Builtin::Funnel { d, sigma: 3.0 },
            Builtin::Logistic {
                x: feat,
                y,
                d,
                prior_scale: 2.0,
            },
        ];
        for t in &targets {
            t.validate().unwrap();
            for _ in 0..20 {
                let x: Vec<f64> = (0..d).map(|_| u(2.0)).collect();
                let err = fd_check(t, &x);
                assert!(err < 1e-6, "{t:?} at {x:?}: {err}");
            }
        }
    }

    #[test]
    fn fused_softplus_sigmoid_is_bit_identical() {
        let mut ts = vec![
            0.0,
            -0.0,
            1e-300,
            -1e-300,
            700.0,
            -700.0,
            800.0,
            -800.0,
            f64::MAX,
        ];
        ts.extend((-4000..=4000).map(|i| i as f64 * 0.0137));
        for t in ts {
            let (a, b) = softplus_sigmoid(t);
            assert_eq!(a.to_bits(), softplus(t).to_bits(), "{t}");
            assert_eq!(b.to_bits(), sigmoid(t).to_bits(), "{t}");
        }
    }

    #[test]
    fn bimodal_energy_is_stable_far_out() {
        let t = Builtin::Bimodal { m: vec![1.0, 0.0] };
        let mut g = vec![0.0; 2];
        let e = t.energy_grad(&[40.0, 0.0], &mut g);
        // −ln(e^{−39²} + e^{−41²}) ≈ 39²
        assert!((e - 1521.0).abs() < 1e-9, "{e}");
        assert!((g[0] - 78.0).abs() < 1e-9);
    }

    /// Arguments in turns for the sine kernels: every eighth of a turn in [−500, 500], a dense
    /// quasi-random sweep of [−700, 700], then `extra`.
    fn turn_sweep(extra: &[f64]) -> Vec<f64> {
        let mut ts: Vec<f64> = (-4000..=4000).map(|i| i as f64 * 0.125).collect();
        ts.extend(
            (0..200_000).map(|i| -700.0 + 1400.0 * ((i as f64 * 0.618_033_988_749_895) % 1.0)),
        );
        ts.extend_from_slice(extra);
        ts
    }

    #[test]
    fn sin_cos_turns_matches_libm() {
        // quarter-turn boundaries, small and large arguments, a dense sweep
        let ts = turn_sweep(&[
            0.0,
            -0.0,
            1e-300,
            1e-9,
            0.124_999_999,
            0.375_000_001,
            1e6 + 0.3,
            2f64.powi(46) + 0.375,
            2f64.powi(46) - 0.125,
            2f64.powi(47) + 0.25,
            -(2f64.powi(46) + 0.625),
            2f64.powi(60),
            -2f64.powi(55),
        ]);
        for &t in &ts {
            let (s, c) = sin_cos_turns(t);
            let (s0, c0) = (2.0 * std::f64::consts::PI * t).sin_cos();
            // the libm reference itself carries the rounding of 2πt (≈ ulp(2πt))
            let tol = 4.0 * f64::EPSILON * (1.0 + (2.0 * std::f64::consts::PI * t).abs());
            assert!(
                (s - s0).abs() <= tol && (c - c0).abs() <= tol,
                "t = {t}: {s} {c} vs {s0} {c0}"
            );
            assert!((s * s + c * c - 1.0).abs() < 4.0 * f64::EPSILON);
        }
        for w in ts.chunks_exact(4) {
            let (s4, c4) = sin_cos_turns_n([w[0], w[1], w[2], w[3]]);
            for i in 0..4 {
                let (s, c) = sin_cos_turns(w[i]);
                assert_eq!(
                    (s4[i].to_bits(), c4[i].to_bits()),
                    (s.to_bits(), c.to_bits())
                );
            }
        }
        let (s, c) = sin_cos_turns(f64::NAN);
        assert!(s.is_nan() && c.is_nan());
        let (s, c) = sin_cos_turns(f64::INFINITY);
        assert!(s.is_nan() && c.is_nan());
    }

    #[test]
    fn sin_turns_matches_libm_and_sin_cos_turns() {
        // the reduction's boundaries (|r| = π/2 at quarter turns) and the branch to library
        // rounding at |2t| = 2^48
        let ts = turn_sweep(&[
            0.0,
            -0.0,
            1e-300,
            1e-9,
            0.25,
            0.249_999_999_999,
            0.250_000_000_001,
            -0.75,
            1e6 + 0.25,
            2f64.powi(46) + 0.25,
            2f64.powi(47) - 0.25,
            2f64.powi(47) + 0.5,
            -(2f64.powi(47) + 0.75),
            2f64.powi(60),
            -2f64.powi(55),
        ]);
        for &t in &ts {
            let s = sin_turns(t);
            let s0 = (2.0 * std::f64::consts::PI * t).sin();
            let tol = 4.0 * f64::EPSILON * (1.0 + (2.0 * std::f64::consts::PI * t).abs());
            assert!((s - s0).abs() <= tol, "t = {t}: {s} vs {s0}");
            // against the quarter-turn reduction, which carries no 2πt rounding: ~1 ulp apart
            let (s1, _) = sin_cos_turns(t);
            assert!((s - s1).abs() <= 2.0 * f64::EPSILON, "t = {t}: {s} vs {s1}");
        }
        for w in ts.chunks_exact(4) {
            let s4 = sin_turns_n([w[0], w[1], w[2], w[3]]);
            for i in 0..4 {
                assert_eq!(s4[i].to_bits(), sin_turns(w[i]).to_bits());
            }
        }
        // odd: sin(−2πt) = −sin(2πt) exactly (the reduction and the polynomial are odd; at
        // whole and half turns both are zeros, of either sign)
        for &t in &ts[..8001] {
            assert_eq!(sin_turns(-t), -sin_turns(t), "t = {t}");
        }
        assert!(sin_turns(f64::NAN).is_nan());
        assert!(sin_turns(f64::INFINITY).is_nan());
        assert!(sin_turns(f64::NEG_INFINITY).is_nan());
    }
}
