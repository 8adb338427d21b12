//! One-dimensional Gaussian expectations of activations ("Wick coefficients").
//!
//! For a neuron with marginal `N(m, v)` the estimators need `G_k = E[φ^(k)(Z)]` (k-th derivative
//! in the distributional sense), the raw moments `E[φ^p(Z)]` (p ≤ 4) and the derivatives of
//! `E[φ²]` with respect to `m` and `v`. ReLU, heaviside, identity and square are in closed form;
//! erf has closed-form `G_k`; GELU has a closed-form `G_0`; everything else uses Gauss–Hermite
//! quadrature (`D = 100` nodes) of the analytic derivatives of `φ`, so no `s^{-k}` amplification.
//!
//! Identities used: `∂G_k/∂m = G_{k+1}`, `∂G_k/∂v = G_{k+2}/2` (heat equation), and for any
//! `f`, `∂E f/∂m = E f'`, `∂E f/∂v = E f''/2`.

use std::f64::consts::{PI, SQRT_2};
use std::sync::OnceLock;

/// Smallest variance used; smaller variances are clamped (and counted in diagnostics).
pub const VAR_FLOOR: f64 = 1e-10;
/// Number of Gauss–Hermite nodes.
pub const GH_NODES: usize = 100;
/// Largest derivative order `k` supported by [`Moments::compute`].
pub const MAX_ORDER: usize = 40;

/// An elementwise activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// `z`
    Identity,
    /// `max(z, 0)`
    Relu,
    /// `z Φ(z)`
    Gelu,
    /// `erf(z)`
    Erf,
    /// `tanh(z)`
    Tanh,
    /// `1{z > 0}` (used for tail probabilities)
    Heaviside,
    /// `z²` (exact tests)
    Square,
}

impl Act {
    /// Parses a name (`relu`, `gelu`, `erf`, `tanh`, `identity`, `heaviside`, `square`).
    pub fn from_name(name: &str) -> Option<Act> {
        Some(match name {
            "identity" | "linear" => Act::Identity,
            "relu" => Act::Relu,
            "gelu" => Act::Gelu,
            "erf" => Act::Erf,
            "tanh" => Act::Tanh,
            "heaviside" => Act::Heaviside,
            "square" => Act::Square,
            _ => return None,
        })
    }

    /// FLOPs charged per element by the FLOP table (relu 1, identity 0, smooth 20).
    pub fn c_act(self) -> f64 {
        match self {
            Act::Identity => 0.0,
            Act::Relu | Act::Heaviside | Act::Square => 1.0,
            Act::Gelu | Act::Erf | Act::Tanh => 20.0,
        }
    }

    /// Whether the coefficients are closed forms (30 FLOPs per coefficient) rather than
    /// Gauss–Hermite (`D (c_act + 3)` FLOPs per coefficient).
    pub fn closed_form(self) -> bool {
        matches!(
            self,
            Act::Identity | Act::Relu | Act::Heaviside | Act::Square | Act::Erf
        )
    }

    /// FLOPs charged for one 1-D Gaussian coefficient of one neuron.
    pub fn coef_flops(self) -> f64 {
        if self.closed_form() {
            30.0
        } else if self == Act::Tanh {
            // trapezoid rule: at least 181 nodes (more when s > 3.9; not counted)
            181.0 * (self.c_act() + 3.0)
        } else {
            GH_NODES as f64 * (self.c_act() + 3.0)
        }
    }

    /// `φ(x)`.
    #[inline]
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Act::Identity => x,
            Act::Relu => x.max(0.0),
            Act::Gelu => x * norm_cdf(x),
            Act::Erf => libm::erf(x),
            Act::Tanh => x.tanh(),
            Act::Heaviside => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Act::Square => x * x,
        }
    }

    /// `φ'(x)` (0 at the kink / jump of relu / heaviside).
    #[inline]
    pub fn deriv1(self, x: f64) -> f64 {
        match self {
            Act::Identity => 1.0,
            Act::Relu => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Act::Heaviside => 0.0,
            Act::Square => 2.0 * x,
            _ => self.smooth_deriv(x, 1),
        }
    }

    /// `φ^(k)(x)` of a smooth activation (gelu, erf, tanh), any `k ≥ 0`.
    fn smooth_deriv(self, x: f64, k: usize) -> f64 {
        match self {
            Act::Gelu => {
                // d^k [x Φ(x)] = x Φ^(k) + k Φ^(k-1); Φ^(j) = (-1)^(j-1) He_{j-1}(x) p(x), j ≥ 1.
                let phi_j = |j: usize| -> f64 {
                    if j == 0 {
                        norm_cdf(x)
                    } else {
                        sign(j - 1) * hermite_he(j - 1, x) * norm_pdf(x)
                    }
                };
                if k == 0 {
                    x * norm_cdf(x)
                } else {
                    x * phi_j(k) + k as f64 * phi_j(k - 1)
                }
            }
            Act::Erf => {
                if k == 0 {
                    libm::erf(x)
                } else {
                    2.0 / PI.sqrt() * sign(k - 1) * hermite_h(k - 1, x) * (-x * x).exp()
                }
            }
            Act::Tanh => {
                let t = x.tanh();
                tanh_poly(k).iter().rev().fold(0.0, |acc, c| acc * t + c)
            }
            Act::Identity => match k {
                0 => x,
                1 => 1.0,
                _ => 0.0,
            },
            Act::Square => match k {
                0 => x * x,
                1 => 2.0 * x,
                2 => 2.0,
                _ => 0.0,
            },
            Act::Relu | Act::Heaviside => f64::NAN,
        }
    }
}

#[inline]
fn sign(k: usize) -> f64 {
    if k.is_multiple_of(2) { 1.0 } else { -1.0 }
}

/// Standard normal density.
#[inline]
pub fn norm_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * PI).sqrt()
}

/// Standard normal cdf `Φ(x)`, accurate in both tails.
#[inline]
pub fn norm_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / SQRT_2)
}

/// Upper tail `Q(x) = 1 − Φ(x)`, accurate for large `x`.
#[inline]
pub fn norm_sf(x: f64) -> f64 {
    0.5 * libm::erfc(x / SQRT_2)
}

/// Probabilists' Hermite polynomial `He_n(x)`.
pub fn hermite_he(n: usize, x: f64) -> f64 {
    let (mut a, mut b) = (1.0, x);
    if n == 0 {
        return a;
    }
    for k in 1..n {
        let c = x * b - k as f64 * a;
        a = b;
        b = c;
    }
    b
}

/// Physicists' Hermite polynomial `H_n(x)`.
pub fn hermite_h(n: usize, x: f64) -> f64 {
    let (mut a, mut b) = (1.0, 2.0 * x);
    if n == 0 {
        return a;
    }
    for k in 1..n {
        let c = 2.0 * x * b - 2.0 * k as f64 * a;
        a = b;
        b = c;
    }
    b
}

/// Coefficients (in powers of `t = tanh x`) of the k-th derivative of tanh.
fn tanh_poly(k: usize) -> &'static [f64] {
    static POLYS: OnceLock<Vec<Vec<f64>>> = OnceLock::new();
    let polys = POLYS.get_or_init(|| {
        let mut out = vec![vec![0.0, 1.0]];
        for _ in 0..=MAX_ORDER + 3 {
            let p = out.last().map(Vec::as_slice).unwrap_or(&[]);
            // d/dx P(t) = P'(t) (1 - t²)
            let mut d = vec![0.0; p.len() + 1];
            for (j, &c) in p.iter().enumerate().skip(1) {
                let dc = j as f64 * c;
                d[j - 1] += dc;
                d[j + 1] -= dc;
            }
            out.push(d);
        }
        out
    });
    &polys[k.min(polys.len() - 1)]
}

/// Input standard deviation above which tanh moments split off the step function.
pub(crate) const TANH_SPLIT_SD: f64 = 64.0;
/// Half-width of the window in `z` outside which `tanh z = ±1` in f64 (`1 − tanh 25 ≈ 4e-22`).
const TANH_WINDOW: f64 = 25.0;

/// Nodes `(z, w)` for `∫_{−25}^{25} f(z) N(z; m, s²) dz`: 10-point Gauss–Legendre on panels of
/// width 1 (tanh's poles at `±iπ/2` are far from each panel), a fixed 500 nodes whatever `s`.
pub(crate) fn tanh_window_rule(m: f64, s: f64) -> Vec<(f64, f64)> {
    tanh_window_panels(m, s, 1)
}

/// [`tanh_window_rule`] with `per_unit` panels of width `1/per_unit` per unit of `z` (finer panels
/// for the higher derivatives of `tanh^p`, whose poles are of higher order).
pub(crate) fn tanh_window_panels(m: f64, s: f64, per_unit: u32) -> Vec<(f64, f64)> {
    const X: [f64; 5] = [
        0.148_874_338_981_631_2,
        0.433_395_394_129_247_2,
        0.679_409_568_299_024_4,
        0.865_063_366_688_984_5,
        0.973_906_528_517_171_7,
    ];
    const W: [f64; 5] = [
        0.295_524_224_714_752_9,
        0.269_266_719_309_996_3,
        0.219_086_362_515_982,
        0.149_451_349_150_580_6,
        0.066_671_344_308_688_1,
    ];
    let width = 1.0 / f64::from(per_unit.max(1));
    let panels = (2.0 * TANH_WINDOW / width).round() as i32;
    let mut out = Vec::with_capacity(panels as usize * 10);
    for p in 0..panels {
        let c = -TANH_WINDOW + width * (0.5 + f64::from(p));
        for (&x, &w) in X.iter().zip(&W) {
            for z in [c - 0.5 * width * x, c + 0.5 * width * x] {
                out.push((z, 0.5 * width * w * norm_pdf((z - m) / s) / s));
            }
        }
    }
    out
}

/// Gauss–Hermite rule for the standard normal: `E f(ξ) ≈ Σ w_i f(x_i)`, `Σ w_i = 1`.
#[derive(Debug)]
pub struct GaussHermite {
    /// Nodes (probabilists' scaling).
    pub nodes: Vec<f64>,
    /// Weights, summing to 1.
    pub weights: Vec<f64>,
}

/// The cached [`GH_NODES`]-point rule.
pub fn gauss_hermite() -> &'static GaussHermite {
    static GH: OnceLock<GaussHermite> = OnceLock::new();
    GH.get_or_init(|| gauss_hermite_rule(GH_NODES))
}

/// The `n`-point Gauss–Hermite rule for the standard normal (Newton on orthonormal Hermite
/// functions, as in Numerical Recipes' `gauher`).
pub fn gauss_hermite_rule(n: usize) -> GaussHermite {
    let pim4 = PI.powf(-0.25);
    let mut x = vec![0.0; n];
    let mut w = vec![0.0; n];
    let m = n.div_ceil(2);
    let nf = n as f64;
    let mut z = 0.0f64;
    for i in 0..m {
        z = match i {
            0 => (2.0 * nf + 1.0).sqrt() - 1.85575 * (2.0 * nf + 1.0).powf(-0.16667),
            1 => z - 1.14 * nf.powf(0.426) / z,
            2 => 1.86 * z - 0.86 * x[0],
            3 => 1.91 * z - 0.91 * x[1],
            _ => 2.0 * z - x[i - 2],
        };
        let mut pp = 1.0;
        for _ in 0..100 {
            let (mut p1, mut p2) = (pim4, 0.0);
            for j in 0..n {
                let p3 = p2;
                p2 = p1;
                let jf = j as f64;
                p1 = z * (2.0 / (jf + 1.0)).sqrt() * p2 - (jf / (jf + 1.0)).sqrt() * p3;
            }
            pp = (2.0 * nf).sqrt() * p2;
            let z1 = z;
            z = z1 - p1 / pp;
            if (z - z1).abs() <= 1e-15 * z.abs().max(1.0) {
                break;
            }
        }
        x[i] = z;
        x[n - 1 - i] = -z;
        w[i] = 2.0 / (pp * pp);
        w[n - 1 - i] = w[i];
    }
    GaussHermite {
        nodes: x.iter().map(|v| v * SQRT_2).collect(),
        weights: w.iter().map(|v| v / PI.sqrt()).collect(),
    }
}

/// Everything the estimators need about `φ(Z)`, `Z ~ N(m, v)`.
#[derive(Debug, Clone, Default)]
pub struct Moments {
    /// `G_k = E[φ^(k)(Z)]` for `k = 0..=kmax`.
    pub g: Vec<f64>,
    /// `E[φ²]`.
    pub e2: f64,
    /// `∂E[φ²]/∂m = E[(φ²)']`.
    pub e2_dm: f64,
    /// `∂E[φ²]/∂v = E[(φ²)'']/2`.
    pub e2_dv: f64,
    /// `E[(φ²)''']`.
    pub e2_d3: f64,
    /// `E[(φ²)^(4)]`.
    pub e2_d4: f64,
    /// `E[φ³]`, `E[φ⁴]` (only when asked).
    pub e3: f64,
    /// `E[φ⁴]`.
    pub e4: f64,
}

impl Moments {
    /// `Var φ(Z) = E φ² − G_0²` (≥ 0).
    pub fn var(&self) -> f64 {
        (self.e2 - self.g[0] * self.g[0]).max(0.0)
    }
    /// `∂ Var/∂m`.
    pub fn var_dm(&self) -> f64 {
        self.e2_dm - 2.0 * self.g[0] * self.g[1]
    }
    /// `∂ Var/∂v`.
    pub fn var_dv(&self) -> f64 {
        self.e2_dv - self.g[0] * self.g[2]
    }
    /// Third cumulant of `φ(Z)`.
    pub fn kappa3(&self) -> f64 {
        let m = self.g[0];
        self.e3 - 3.0 * self.e2 * m + 2.0 * m * m * m
    }
    /// Fourth cumulant of `φ(Z)`.
    pub fn kappa4(&self) -> f64 {
        let m = self.g[0];
        let m2 = self.e2 - m * m;
        let m3 = self.e3 - 3.0 * self.e2 * m + 2.0 * m * m * m;
        let m4c = self.e4 - 4.0 * self.e3 * m + 6.0 * self.e2 * m * m - 3.0 * m.powi(4);
        let _ = m3;
        m4c - 3.0 * m2 * m2
    }

    /// Computes the coefficients for `Z ~ N(m, v)` with `G_k` up to `kmax` (at least 3), and
    /// the raw moments 3 and 4 when `higher`. `v` must already be clamped to ≥ [`VAR_FLOOR`].
    pub fn compute(act: Act, m: f64, v: f64, kmax: usize, higher: bool) -> Moments {
        let kmax = kmax.clamp(3, MAX_ORDER);
        let mut g = vec![0.0; kmax + 1];
        let s = v.sqrt();
        let a = m / s;
        let (pa, cdf) = (norm_pdf(a), norm_cdf(a));
        let mut out = Moments::default();
        match act {
            Act::Identity => {
                g[0] = m;
                g[1] = 1.0;
                out.e2 = m * m + v;
                out.e2_dm = 2.0 * m;
                out.e2_dv = 1.0;
                out.e2_d3 = 0.0;
                out.e2_d4 = 0.0;
                out.e3 = m * m * m + 3.0 * m * v;
                out.e4 = m.powi(4) + 6.0 * m * m * v + 3.0 * v * v;
            }
            Act::Square => {
                g[0] = m * m + v;
                g[1] = 2.0 * m;
                g[2] = 2.0;
                out.e2 = m.powi(4) + 6.0 * m * m * v + 3.0 * v * v;
                out.e2_dm = 4.0 * m.powi(3) + 12.0 * m * v;
                out.e2_dv = 6.0 * m * m + 6.0 * v;
                out.e2_d3 = 24.0 * m;
                out.e2_d4 = 24.0;
                // E z^6 and E z^8 of N(m, v)
                let e6 = m.powi(6) + 15.0 * m.powi(4) * v + 45.0 * m * m * v * v + 15.0 * v.powi(3);
                let e8 = m.powi(8)
                    + 28.0 * m.powi(6) * v
                    + 210.0 * m.powi(4) * v * v
                    + 420.0 * m * m * v.powi(3)
                    + 105.0 * v.powi(4);
                out.e3 = e6;
                out.e4 = e8;
            }
            Act::Relu | Act::Heaviside => {
                // ReLU: G_0 = s p(a) + m P(a); G_1 = P(a); G_k = (-1)^k s^{1-k} He_{k-2}(a) p(a).
                let mut rg = vec![0.0; kmax + 2];
                rg[0] = s * pa + m * cdf;
                rg[1] = cdf;
                for (k, r) in rg.iter_mut().enumerate().skip(2) {
                    *r = sign(k) * s.powi(1 - k as i32) * hermite_he(k - 2, a) * pa;
                }
                if act == Act::Relu {
                    g.copy_from_slice(&rg[..=kmax]);
                    out.e2 = (m * m + v) * cdf + m * s * pa;
                    out.e2_dm = 2.0 * rg[0];
                    out.e2_dv = rg[1];
                    out.e2_d3 = 2.0 * rg[2];
                    out.e2_d4 = 2.0 * rg[3];
                    out.e3 = (m * m * m + 3.0 * m * v) * cdf + s * pa * (m * m + 2.0 * v);
                    out.e4 = (m.powi(4) + 6.0 * m * m * v + 3.0 * v * v) * cdf
                        + s * pa * (m.powi(3) + 5.0 * m * v);
                } else {
                    g.copy_from_slice(&rg[1..=kmax + 1]);
                    out.e2 = cdf;
                    out.e2_dm = rg[2];
                    out.e2_dv = rg[3] / 2.0;
                    out.e2_d3 = if kmax + 1 >= 4 {
                        sign(4) * s.powi(-3) * hermite_he(2, a) * pa
                    } else {
                        0.0
                    };
                    out.e2_d4 = rg[4];
                    out.e3 = cdf;
                    out.e4 = cdf;
                }
            }
            Act::Erf | Act::Gelu | Act::Tanh => {
                // tanh has poles at ±iπ/2: Gauss–Hermite converges slowly once s is large, so use
                // the trapezoid rule in ξ with a step a quarter of the poles' distance π/(2s)
                // (error ~ exp(−8π)); erf and gelu are entire and use Gauss–Hermite.
                // nodes `(z, weight)`; for a wide tanh input the step part is exact (`step`)
                let (nodes, step) = if act == Act::Tanh && s > TANH_SPLIT_SD {
                    (tanh_window_rule(m, s), Some((norm_cdf(a), norm_cdf(-a))))
                } else if act == Act::Tanh {
                    let h = (PI / (2.0 * s) / 4.0).min(0.1);
                    let half = (9.0 / h).ceil() as i64;
                    let nodes: Vec<(f64, f64)> = (-half..=half)
                        .map(|i| {
                            let x = i as f64 * h;
                            (m + s * x, h * norm_pdf(x))
                        })
                        .collect();
                    (nodes, None)
                } else {
                    let gh = gauss_hermite();
                    let nodes: Vec<(f64, f64)> = gh
                        .nodes
                        .iter()
                        .zip(&gh.weights)
                        .map(|(&x, &w)| (m + s * x, w))
                        .collect();
                    (nodes, None)
                };
                let kq = if act == Act::Erf { 3 } else { kmax };
                let mut acc = vec![0.0; kq + 1];
                let (mut e2, mut e2dm, mut e2dv, mut e2d3, mut e3, mut e4) =
                    (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
                let mut e2d4 = 0.0;
                for &(z, w) in &nodes {
                    let d0 = act.smooth_deriv(z, 0);
                    let d1 = act.smooth_deriv(z, 1);
                    let d2 = act.smooth_deriv(z, 2);
                    let d3 = act.smooth_deriv(z, 3);
                    // with `step`, integrate the difference from the step function sign(z)
                    let s0 = if step.is_some() { z.signum() } else { 0.0 };
                    let s1 = if step.is_some() { 1.0 } else { 0.0 };
                    if act != Act::Erf {
                        for (k, a) in acc.iter_mut().enumerate() {
                            let dk = match k {
                                0 => d0,
                                1 => d1,
                                2 => d2,
                                3 => d3,
                                _ => act.smooth_deriv(z, k),
                            };
                            *a += w * if k == 0 { dk - s0 } else { dk };
                        }
                    }
                    e2 += w * (d0 * d0 - s1);
                    e2dm += w * 2.0 * d0 * d1;
                    e2dv += w * (d1 * d1 + d0 * d2);
                    e2d3 += w * 2.0 * (3.0 * d1 * d2 + d0 * d3);
                    if higher {
                        let d4 = act.smooth_deriv(z, 4);
                        e2d4 += w * 2.0 * (3.0 * d2 * d2 + 4.0 * d1 * d3 + d0 * d4);
                    }
                    if higher {
                        e3 += w * (d0 * d0 * d0 - s0);
                        e4 += w * (d0 * d0 * d0 * d0 - s1);
                    }
                }
                if let Some((p_pos, p_neg)) = step {
                    // E sign(Z) and E sign(Z)² = 1 (derivative terms of the step vanish)
                    acc[0] += p_pos - p_neg;
                    e2 += p_pos + p_neg;
                    e3 += p_pos - p_neg;
                    e4 += p_pos + p_neg;
                }
                if act == Act::Erf {
                    let r = (1.0 + 2.0 * v).sqrt();
                    let x = m / r;
                    g[0] = libm::erf(x);
                    for (k, gk) in g.iter_mut().enumerate().skip(1) {
                        *gk = r.powi(-(k as i32))
                            * (2.0 / PI.sqrt()
                                * sign(k - 1)
                                * hermite_h(k - 1, x)
                                * (-x * x).exp());
                    }
                } else {
                    g.copy_from_slice(&acc);
                    if act == Act::Gelu {
                        // closed-form G_0 (Stein identity)
                        let r = (1.0 + v).sqrt();
                        g[0] = m * norm_cdf(m / r) + v * norm_pdf(m / r) / r;
                    }
                }
                out.e2 = e2;
                out.e2_dm = e2dm;
                out.e2_dv = e2dv;
                out.e2_d3 = e2d3;
                out.e2_d4 = e2d4;
                out.e3 = e3;
                out.e4 = e4;
            }
        }
        out.g = g;
        out
    }
}

/// Clamps a variance to [`VAR_FLOOR`]; returns the value and whether it was clamped.
#[inline]
pub fn clamp_var(v: f64) -> (f64, bool) {
    if v < VAR_FLOOR {
        (VAR_FLOOR, true)
    } else {
        (v, false)
    }
}

/// `E[φ(z_1) φ(z_2)]` by the Mehler series to order `order` for jointly Gaussian `z` with means
/// `m1, m2`, variances `v1, v2` and covariance `c`: `Σ_{k=0..order} c^k/k! G_k(1) G_k(2)`.
pub fn mehler_second_moment(act: Act, m: [f64; 2], v: [f64; 2], c: f64, order: usize) -> f64 {
    let a = Moments::compute(act, m[0], v[0], order, false);
    let b = Moments::compute(act, m[1], v[1], order, false);
    let mut ck = 1.0;
    let mut sum = 0.0;
    for k in 0..=order.min(MAX_ORDER) {
        if k > 0 {
            ck *= c / k as f64;
        }
        sum += ck * a.g[k] * b.g[k];
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_hermite_integrates_polynomials() {
        let gh = gauss_hermite();
        let mom = |p: i32| -> f64 {
            gh.nodes
                .iter()
                .zip(&gh.weights)
                .map(|(x, w)| w * x.powi(p))
                .sum()
        };
        assert!((mom(0) - 1.0).abs() < 1e-13);
        assert!((mom(2) - 1.0).abs() < 1e-12);
        assert!((mom(4) - 3.0).abs() < 1e-11);
        assert!((mom(6) - 15.0).abs() < 1e-10);
        assert!(mom(3).abs() < 1e-12);
    }

    #[test]
    fn gk_is_the_m_derivative_of_g0() {
        // finite differences in m of G_{k-1} against G_k, and in v against G_{k+1}/2
        for act in [Act::Relu, Act::Erf, Act::Gelu, Act::Tanh] {
            for &(m, v) in &[(0.3, 0.7), (-1.2, 2.0), (2.0, 0.3)] {
                let g = Moments::compute(act, m, v, 5, false).g;
                let h = 1e-5;
                let tol = 1e-6;
                for k in 1..4 {
                    let p = Moments::compute(act, m + h, v, 5, false).g[k - 1];
                    let q = Moments::compute(act, m - h, v, 5, false).g[k - 1];
                    let fd = (p - q) / (2.0 * h);
                    assert!(
                        (fd - g[k]).abs() < tol * (1.0 + g[k].abs()),
                        "{act:?} k={k} {fd} {}",
                        g[k]
                    );
                    let p = Moments::compute(act, m, v + h, 5, false).g[k - 1];
                    let q = Moments::compute(act, m, v - h, 5, false).g[k - 1];
                    let fd = (p - q) / (2.0 * h);
                    assert!(
                        (fd - g[k + 1] / 2.0).abs() < tol * (1.0 + g[k + 1].abs()),
                        "{act:?} v k={k} m={m} v={v} {fd} {}",
                        g[k + 1] / 2.0
                    );
                }
                let mo = Moments::compute(act, m, v, 5, false);
                let e2 = |m: f64, v: f64| Moments::compute(act, m, v, 5, false).e2;
                let fd = (e2(m + h, v) - e2(m - h, v)) / (2.0 * h);
                assert!((fd - mo.e2_dm).abs() < tol * (1.0 + fd.abs()));
                let fd = (e2(m, v + h) - e2(m, v - h)) / (2.0 * h);
                assert!(
                    (fd - mo.e2_dv).abs() < tol * (1.0 + fd.abs()),
                    "{act:?} e2_dv {fd} {}",
                    mo.e2_dv
                );
            }
        }
    }

    #[test]
    fn relu_arccos_kernel_is_the_mehler_limit() {
        for &rho in &[0.5f64, -0.3] {
            let th = rho.acos();
            let exact = (th.sin() + (PI - th) * rho) / (2.0 * PI);
            let s = mehler_second_moment(Act::Relu, [0.0, 0.0], [1.0, 1.0], rho, 30);
            assert!((s - exact).abs() < 1e-9, "{s} {exact}");
        }
    }
}
