//! Densities evaluated in batches.
//!
//! The entropy algorithms gather every point they need for one step (cell edges, quadrature
//! nodes) and evaluate them in one call, so a density backed by an external library (a frozen
//! `scipy.stats` law, through the bindings) costs a handful of vectorised calls, not one per point.

use super::FpError;

/// Density, log-density and derivative of the log-density at one point.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PointEval {
    /// `f(x) ≥ 0`.
    pub f: f64,
    /// `ln f(x)` (`-inf` where `f = 0`).
    pub ln_f: f64,
    /// `d ln f / dx` (0 where `f = 0`).
    pub dln_f: f64,
}

/// A continuous law on the real line, evaluated in batches.
///
/// Implementations must be deterministic: the same points give the same values.
pub trait Density: Sync {
    /// Closed support `[lo, hi]` (infinite ends allowed).
    fn support(&self) -> (f64, f64);

    /// Points where the density is not smooth (kinks, jumps, singularities), sorted, including
    /// the finite ends of the support.
    fn breakpoints(&self) -> Vec<f64>;

    /// Points around which the mass concentrates (location, a few scales either side). The
    /// algorithms split their quadrature intervals there, so a law much narrower than a cell or a
    /// binade is not missed. Default: none.
    fn anchors(&self) -> Vec<f64> {
        Vec::new()
    }

    /// `f`, `ln f` and `d ln f/dx` at every point of `x`.
    ///
    /// # Errors
    /// [`FpError::Density`] if the values cannot be computed or are invalid.
    fn eval_pdf(&self, x: &[f64]) -> Result<Vec<PointEval>, FpError>;

    /// `(cdf(x), sf(x))` at every point, each with full relative accuracy in its own tail.
    ///
    /// # Errors
    /// [`FpError::Density`] if the values cannot be computed or are invalid.
    fn eval_cdf_sf(&self, x: &[f64]) -> Result<Vec<(f64, f64)>, FpError>;

    /// `K = h(sign, ln|X|)` in bits when a closed form is known (`None` otherwise).
    fn log_mag_entropy(&self) -> Option<f64> {
        None
    }

    /// Differential entropy `h(X)` in bits when a closed form is known.
    fn diff_entropy(&self) -> Option<f64> {
        None
    }
}

/// The law of `c · X` for `c > 0`.
///
/// With `c` a power of two every evaluation point maps exactly onto a point of the unscaled law,
/// so `H_F(2^k X) = H_F(X)` holds to rounding (≈ 1e-14 bits) while no mass crosses the format's
/// range.
pub struct Scaled<'a> {
    inner: &'a dyn Density,
    c: f64,
    ln_c: f64,
}

impl<'a> Scaled<'a> {
    /// Wraps `inner` scaled by `c`.
    ///
    /// # Errors
    /// [`FpError::InvalidArgument`] (`scale`) unless `c` is finite and > 0.
    pub fn new(inner: &'a dyn Density, c: f64) -> Result<Self, FpError> {
        if !(c.is_finite() && c > 0.0) {
            return Err(FpError::invalid(
                "scale",
                format!("must be finite and > 0, got {c}"),
            ));
        }
        Ok(Self {
            inner,
            c,
            ln_c: c.ln(),
        })
    }

    fn unscale(&self, x: &[f64]) -> Vec<f64> {
        x.iter().map(|&v| v / self.c).collect()
    }
}

impl Density for Scaled<'_> {
    fn support(&self) -> (f64, f64) {
        let (a, b) = self.inner.support();
        (a * self.c, b * self.c)
    }

    fn breakpoints(&self) -> Vec<f64> {
        self.inner
            .breakpoints()
            .into_iter()
            .map(|b| b * self.c)
            .collect()
    }

    fn eval_pdf(&self, x: &[f64]) -> Result<Vec<PointEval>, FpError> {
        let mut v = self.inner.eval_pdf(&self.unscale(x))?;
        for p in &mut v {
            p.f /= self.c;
            p.ln_f -= self.ln_c;
            p.dln_f /= self.c;
        }
        Ok(v)
    }

    fn eval_cdf_sf(&self, x: &[f64]) -> Result<Vec<(f64, f64)>, FpError> {
        self.inner.eval_cdf_sf(&self.unscale(x))
    }

    fn log_mag_entropy(&self) -> Option<f64> {
        self.inner.log_mag_entropy()
    }

    fn diff_entropy(&self) -> Option<f64> {
        self.inner.diff_entropy().map(|h| h + self.c.log2())
    }
}

/// Checks a batch returned by a density: right length, finite non-negative `f`, cdf/sf in [0, 1].
pub(crate) fn check_pdf(x: &[f64], v: &[PointEval]) -> Result<(), FpError> {
    if v.len() != x.len() {
        return Err(FpError::Density(format!(
            "pdf returned {} values for {} points",
            v.len(),
            x.len()
        )));
    }
    for (xi, p) in x.iter().zip(v) {
        if !(p.f.is_finite() && p.f >= 0.0) || p.ln_f.is_nan() || !p.dln_f.is_finite() && p.f > 0.0
        {
            return Err(FpError::Density(format!(
                "invalid density at x = {xi:e}: pdf = {}, logpdf = {}, dlogpdf = {}",
                p.f, p.ln_f, p.dln_f
            )));
        }
    }
    Ok(())
}

/// See [`check_pdf`].
pub(crate) fn check_cdf(x: &[f64], v: &[(f64, f64)]) -> Result<(), FpError> {
    if v.len() != x.len() {
        return Err(FpError::Density(format!(
            "cdf returned {} values for {} points",
            v.len(),
            x.len()
        )));
    }
    for (xi, &(c, s)) in x.iter().zip(v) {
        if !((0.0..=1.0).contains(&c) && (0.0..=1.0).contains(&s)) {
            return Err(FpError::Density(format!(
                "invalid cdf/sf at x = {xi:e}: cdf = {c}, sf = {s}"
            )));
        }
    }
    Ok(())
}
