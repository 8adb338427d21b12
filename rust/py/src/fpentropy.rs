//! Bindings of `boltzkit_core::fpentropy`.

use crate::errors::{InvalidArgumentError, fp_to_pyerr};
use boltzkit_core::fpentropy::{
    self as fp, Approx, Density, Empirical, Entropy, EntropyOptions, Format, Law, LawKind, Layout,
    Method, Overflow, PointEval, Scaled, ZeroPolicy,
};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// A format as the Python layer passes it: (name, exponent_bits, mantissa_bits, bias, zero, overflow).
pub type FormatSpec = (String, u32, u32, i32, String, String);
/// A built-in law: (kind, shape parameters, loc, scale).
pub type LawSpec = (String, Vec<f64>, f64, f64);

fn to_format(spec: &FormatSpec) -> PyResult<Format> {
    let (name, e, m, bias, zero, over) = spec;
    let zero = match zero.as_str() {
        "signed" => ZeroPolicy::Signed,
        "single" => ZeroPolicy::Single,
        z => {
            return Err(InvalidArgumentError::new_err(format!(
                "zero: expected 'signed' or 'single', got {z:?}"
            )));
        }
    };
    let over = match over.as_str() {
        "inf" => Overflow::Inf,
        "nan" => Overflow::Nan,
        "saturate" => Overflow::Saturate,
        o => {
            return Err(InvalidArgumentError::new_err(format!(
                "overflow: expected 'inf', 'nan' or 'saturate', got {o:?}"
            )));
        }
    };
    Format::new(name.clone(), *e, *m, *bias, zero, over).map_err(|e| fp_to_pyerr(e, None))
}

fn to_law(spec: &LawSpec) -> PyResult<Law> {
    let (kind, p, loc, scale) = spec;
    let need = |n: usize| -> PyResult<()> {
        if p.len() == n {
            Ok(())
        } else {
            Err(InvalidArgumentError::new_err(format!(
                "dist: law {kind:?} takes {n} shape parameters, got {}",
                p.len()
            )))
        }
    };
    let k = match kind.as_str() {
        "normal" => need(0).map(|_| LawKind::Normal)?,
        "halfnormal" => need(0).map(|_| LawKind::HalfNormal)?,
        "uniform" => need(0).map(|_| LawKind::Uniform)?,
        "exponential" => need(0).map(|_| LawKind::Exponential)?,
        "laplace" => need(0).map(|_| LawKind::Laplace)?,
        "logistic" => need(0).map(|_| LawKind::Logistic)?,
        "cauchy" => need(0).map(|_| LawKind::Cauchy)?,
        "gamma" => need(1).map(|_| LawKind::Gamma(p[0]))?,
        "weibull" => need(1).map(|_| LawKind::Weibull(p[0]))?,
        "lognormal" => need(1).map(|_| LawKind::LogNormal(p[0]))?,
        "pareto" => need(1).map(|_| LawKind::Pareto(p[0]))?,
        "studentt" => need(1).map(|_| LawKind::StudentT(p[0]))?,
        "beta" => need(2).map(|_| LawKind::Beta(p[0], p[1]))?,
        "loguniform" => need(2).map(|_| LawKind::LogUniform(p[0], p[1]))?,
        other => {
            return Err(InvalidArgumentError::new_err(format!(
                "dist: unknown built-in law {other:?}"
            )));
        }
    };
    // the Python layer passes `dist`'s parameters: name `dist` first, then the parameter
    Law::new(k, *loc, *scale).map_err(|e| match e {
        fp::FpError::InvalidArgument { .. } => InvalidArgumentError::new_err(format!("dist: {e}")),
        e => fp_to_pyerr(e, None),
    })
}

/// A density evaluated by a Python adapter object with vectorised methods
/// `logpdf3(x, h) -> ndarray[3n]` (log-density at x, x+h, x−h) and `cdf_sf(x) -> (ndarray, ndarray)`.
/// The derivative of the log-density is the central difference with step
/// `h = 1e-5 · max(|x|, fd_scale)` (`fd_scale`: a typical length of the law, e.g. its IQR).
/// The exception of a failing call is kept and re-raised by the binding.
/// Once `cancel` is set (Ctrl-C seen by the calling thread), no further callback is made.
struct PyDensity<'a> {
    obj: Py<PyAny>,
    support: (f64, f64),
    breakpoints: Vec<f64>,
    anchors: Vec<f64>,
    fd_scale: f64,
    error: Mutex<Option<PyErr>>,
    cancel: &'a AtomicBool,
}

impl PyDensity<'_> {
    fn fail(&self, e: PyErr) -> fp::FpError {
        let msg = Python::attach(|py| e.value(py).to_string());
        *self.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
        fp::FpError::Density(format!("the distribution raised: {msg}"))
    }

    fn take_error(&self) -> Option<PyErr> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn call_array(
        &self,
        method: &str,
        x: &[f64],
        h: Option<&[f64]>,
        n_out: usize,
    ) -> Result<Vec<Vec<f64>>, fp::FpError> {
        // once the user's code has failed (or Ctrl-C arrived inside it), no further call: a
        // fallback path of the core must not run the callbacks again (each may be slow)
        if self.cancel.load(Ordering::Relaxed)
            || self
                .error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_some()
        {
            return Err(fp::FpError::Density(
                "an earlier call of the law's methods failed".into(),
            ));
        }
        Python::attach(|py| {
            let arr = PyArray1::from_slice(py, x);
            let out = match h {
                Some(h) => self
                    .obj
                    .call_method1(py, method, (arr, PyArray1::from_slice(py, h))),
                None => self.obj.call_method1(py, method, (arr,)),
            }
            .map_err(|e| self.fail(e))?;
            let out = out.bind(py);
            let mut res = Vec::with_capacity(n_out);
            for i in 0..n_out {
                let item = if n_out == 1 {
                    out.clone()
                } else {
                    out.get_item(i).map_err(|e| self.fail(e))?
                };
                let a: PyReadonlyArray1<f64> = item.extract().map_err(|e: PyErr| self.fail(e))?;
                let v = a
                    .as_slice()
                    .map_err(|e| fp::FpError::Density(e.to_string()))?
                    .to_vec();
                res.push(v);
            }
            Ok(res)
        })
    }
}

impl Density for PyDensity<'_> {
    fn support(&self) -> (f64, f64) {
        self.support
    }

    fn breakpoints(&self) -> Vec<f64> {
        self.breakpoints.clone()
    }

    fn anchors(&self) -> Vec<f64> {
        self.anchors.clone()
    }

    fn eval_pdf(&self, x: &[f64]) -> Result<Vec<PointEval>, fp::FpError> {
        let n = x.len();
        let hs: Vec<f64> = x
            .iter()
            .map(|&t| 1e-5 * t.abs().max(self.fd_scale))
            .collect();
        let v = self
            .call_array("logpdf3", x, Some(&hs), 1)?
            .pop()
            .unwrap_or_default();
        if v.len() != 3 * n {
            return Err(fp::FpError::Density(format!(
                "logpdf returned {} values for {} points",
                v.len(),
                3 * n
            )));
        }
        Ok((0..n)
            .map(|i| {
                let (l0, lp, lm) = (v[i], v[n + i], v[2 * n + i]);
                let h = hs[i];
                let d = match (lp.is_finite(), lm.is_finite()) {
                    (true, true) => (lp - lm) / (2.0 * h),
                    (true, false) if l0.is_finite() => (lp - l0) / h,
                    (false, true) if l0.is_finite() => (l0 - lm) / h,
                    _ => 0.0,
                };
                let f = if fp::negligible_density(l0, x[i]) {
                    0.0
                } else {
                    l0.exp()
                };
                PointEval {
                    f,
                    ln_f: l0,
                    dln_f: if f > 0.0 { d } else { 0.0 },
                }
            })
            .collect())
    }

    fn eval_cdf_sf(&self, x: &[f64]) -> Result<Vec<(f64, f64)>, fp::FpError> {
        let mut v = self.call_array("cdf_sf", x, None, 2)?;
        let s = v.pop().unwrap_or_default();
        let c = v.pop().unwrap_or_default();
        if c.len() != x.len() || s.len() != x.len() {
            return Err(fp::FpError::Density(format!(
                "cdf/sf returned {}/{} values for {} points",
                c.len(),
                s.len(),
                x.len()
            )));
        }
        Ok(c.into_iter().zip(s).collect())
    }
}

fn method(m: &str) -> PyResult<Method> {
    match m {
        "auto" => Ok(Method::Auto),
        "enumerate" => Ok(Method::Enumerate),
        "classes" => Ok(Method::Classes),
        _ => Err(InvalidArgumentError::new_err(format!(
            "method: expected 'auto', 'enumerate' or 'classes', got {m:?}"
        ))),
    }
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Auto => "auto",
        Method::Enumerate => "enumerate",
        Method::Classes => "classes",
    }
}

fn entropy_dict<'py>(py: Python<'py>, r: &Entropy) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("bits", r.bits)?;
    d.set_item("method", method_name(r.method))?;
    d.set_item("error_estimate", r.error_estimate)?;
    d.set_item("p_zero", r.p_zero)?;
    d.set_item("p_overflow", r.p_overflow)?;
    d.set_item("p_subnormal", r.p_subnormal)?;
    d.set_item("total_mass", r.total_mass)?;
    d.set_item("diff_entropy_part", r.diff_entropy_part)?;
    d.set_item("n_evaluations", r.n_evaluations)?;
    Ok(d)
}

fn approx_dict<'py>(py: Python<'py>, a: &Approx) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("paper", a.paper)?;
    d.set_item("refined", a.refined)?;
    d.set_item("bound", a.bound)?;
    let t = &a.terms;
    for (k, v) in [
        ("k", t.k),
        ("b", t.b),
        ("b_point", t.b_point),
        ("u", t.u),
        ("v", t.v),
        ("d", t.d),
        ("d_bound", t.d_bound),
        ("w", t.w),
        ("w_bound", t.w_bound),
    ] {
        d.set_item(k, v)?;
    }
    d.set_item("k_closed_form", t.k_closed_form)?;
    Ok(d)
}

/// Parameters of a named format: (name, exponent_bits, mantissa_bits, bias, zero, overflow).
#[pyfunction]
pub fn format_params(name: &str) -> PyResult<FormatSpec> {
    let f = Format::by_name(name).map_err(|e| fp_to_pyerr(e, None))?;
    let zero = if f.zero == ZeroPolicy::Signed {
        "signed"
    } else {
        "single"
    };
    let over = match f.overflow {
        Overflow::Inf => "inf",
        Overflow::Nan => "nan",
        Overflow::Saturate => "saturate",
    };
    Ok((
        f.name.clone(),
        f.exponent_bits,
        f.mantissa_bits,
        f.bias,
        zero.into(),
        over.into(),
    ))
}

/// Names of the built-in formats.
#[pyfunction]
pub fn format_names() -> Vec<&'static str> {
    fp::FORMAT_NAMES.to_vec()
}

/// Derived quantities of a format: precision, emin, emax, xmax, min_subnormal, min_normal,
/// overflow_threshold, bits, n_symbols.
#[pyfunction]
pub fn format_derived<'py>(py: Python<'py>, fmt: FormatSpec) -> PyResult<Bound<'py, PyDict>> {
    let f = to_format(&fmt)?;
    let d = PyDict::new(py);
    d.set_item("precision", f.precision())?;
    d.set_item("emin", f.emin())?;
    d.set_item("emax", f.emax())?;
    d.set_item("xmax", f.xmax())?;
    d.set_item("min_subnormal", f.min_subnormal())?;
    d.set_item("min_normal", f.min_normal())?;
    d.set_item("overflow_threshold", f.overflow_threshold())?;
    d.set_item("bits", f.bits())?;
    d.set_item("n_symbols", f.n_symbols())?;
    Ok(d)
}

/// Round every value of `x` to the format (float64 values out).
#[pyfunction]
#[pyo3(signature = (x, fmt, threads=None))]
pub fn quantize<'py>(
    py: Python<'py>,
    x: PyReadonlyArray1<'py, f64>,
    fmt: FormatSpec,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let f = to_format(&fmt)?;
    let xs = x.as_slice()?;
    let out = py
        .detach(|| {
            boltzkit_core::parallel::with_threads(threads, || {
                let mut out = vec![0.0; xs.len()];
                fp::quantize_into(&f, xs, &mut out).map(|_| out)
            })
        })
        .map_err(crate::errors::pool_to_pyerr)?
        .map_err(|e| fp_to_pyerr(e, None))?;
    Ok(PyArray1::from_vec(py, out))
}

/// The codes (bit patterns) of the quantized values of `x`.
#[pyfunction]
#[pyo3(signature = (x, fmt, threads=None))]
pub fn quantize_codes<'py>(
    py: Python<'py>,
    x: PyReadonlyArray1<'py, f64>,
    fmt: FormatSpec,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let f = to_format(&fmt)?;
    let xs = x.as_slice()?;
    let out = py
        .detach(|| {
            boltzkit_core::parallel::with_threads(threads, || {
                let mut out = vec![0u64; xs.len()];
                fp::codes_into(&f, xs, &mut out).map(|_| out)
            })
        })
        .map_err(crate::errors::pool_to_pyerr)?
        .map_err(|e| fp_to_pyerr(e, None))?;
    Ok(PyArray1::from_vec(py, out))
}

/// Exact entropy of a built-in law scaled by `scale`.
#[pyfunction]
#[pyo3(signature = (law, fmt, merge_zero=false, method="auto", threads=None))]
pub fn entropy_law<'py>(
    py: Python<'py>,
    law: LawSpec,
    fmt: FormatSpec,
    merge_zero: bool,
    method: &str,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let l = to_law(&law)?;
    let f = to_format(&fmt)?;
    let opts = EntropyOptions {
        merge_zero,
        method: self::method(method)?,
        threads,
    };
    let r = py
        .detach(|| fp::exact_entropy(&l, &f, &opts))
        .map_err(|e| fp_to_pyerr(e, None))?;
    entropy_dict(py, &r)
}

/// Exact entropy of a law evaluated through a Python adapter, scaled by `scale`.
#[pyfunction]
#[pyo3(signature = (adapter, support, breakpoints, anchors, fd_scale, fmt, scale=1.0, merge_zero=false, method="auto", threads=None))]
#[allow(clippy::too_many_arguments)]
pub fn entropy_callback<'py>(
    py: Python<'py>,
    adapter: Py<PyAny>,
    support: (f64, f64),
    breakpoints: Vec<f64>,
    anchors: Vec<f64>,
    fd_scale: f64,
    fmt: FormatSpec,
    scale: f64,
    merge_zero: bool,
    method: &str,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let f = to_format(&fmt)?;
    let opts = EntropyOptions {
        merge_zero,
        method: self::method(method)?,
        threads,
    };
    if !(fd_scale.is_finite() && fd_scale > 0.0) {
        return Err(InvalidArgumentError::new_err(format!(
            "fd_scale: must be finite and > 0, got {fd_scale}"
        )));
    }
    // the core runs on a worker thread while this one watches for Ctrl-C: the user's callbacks
    // then run off the main thread, where Python cannot raise KeyboardInterrupt inside them
    let (r, err) = crate::signals::run_with_signals(py, |flag| {
        let d = PyDensity {
            obj: adapter,
            support,
            breakpoints,
            anchors,
            fd_scale,
            error: Mutex::new(None),
            cancel: flag,
        };
        let r = Scaled::new(&d, scale).and_then(|s| fp::exact_entropy(&s, &f, &opts));
        (r, d.take_error())
    })?;
    let r = r.map_err(|e| fp_to_pyerr(e, err))?;
    entropy_dict(py, &r)
}

/// Approximation and error terms for a built-in law.
#[pyfunction]
#[pyo3(signature = (law, fmt, merge_zero=false, threads=None))]
pub fn approx_law<'py>(
    py: Python<'py>,
    law: LawSpec,
    fmt: FormatSpec,
    merge_zero: bool,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let l = to_law(&law)?;
    let f = to_format(&fmt)?;
    let a = py
        .detach(|| fp::approx_entropy(&l, &f, merge_zero, threads))
        .map_err(|e| fp_to_pyerr(e, None))?;
    approx_dict(py, &a)
}

/// Approximation and error terms for a law evaluated through a Python adapter.
#[pyfunction]
#[pyo3(signature = (adapter, support, breakpoints, anchors, fd_scale, fmt, scale=1.0, merge_zero=false, threads=None))]
#[allow(clippy::too_many_arguments)]
pub fn approx_callback<'py>(
    py: Python<'py>,
    adapter: Py<PyAny>,
    support: (f64, f64),
    breakpoints: Vec<f64>,
    anchors: Vec<f64>,
    fd_scale: f64,
    fmt: FormatSpec,
    scale: f64,
    merge_zero: bool,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let f = to_format(&fmt)?;
    if !(fd_scale.is_finite() && fd_scale > 0.0) {
        return Err(InvalidArgumentError::new_err(format!(
            "fd_scale: must be finite and > 0, got {fd_scale}"
        )));
    }
    // the core runs on a worker thread while this one watches for Ctrl-C: the user's callbacks
    // then run off the main thread, where Python cannot raise KeyboardInterrupt inside them
    let (r, err) = crate::signals::run_with_signals(py, |flag| {
        let d = PyDensity {
            obj: adapter,
            support,
            breakpoints,
            anchors,
            fd_scale,
            error: Mutex::new(None),
            cancel: flag,
        };
        let r =
            Scaled::new(&d, scale).and_then(|s| fp::approx_entropy(&s, &f, merge_zero, threads));
        (r, d.take_error())
    })?;
    let a = r.map_err(|e| fp_to_pyerr(e, err))?;
    approx_dict(py, &a)
}

/// `K` in bits for a built-in law when a closed form exists.
#[pyfunction]
pub fn closed_form_k_law(law: LawSpec) -> PyResult<Option<f64>> {
    Ok(to_law(&law)?.log_mag_entropy())
}

fn empirical_dict<'py>(py: Python<'py>, e: &Empirical) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("bits_per_value", e.bits_per_value)?;
    d.set_item("sign_bits", e.sign_bits)?;
    d.set_item("exponent_bits", e.exponent_bits)?;
    d.set_item("sign_exponent_bits", e.sign_exponent_bits)?;
    d.set_item("mantissa_bits_given_exp", e.mantissa_bits_given_exp)?;
    d.set_item("n", e.n)?;
    d.set_item("n_distinct", e.n_distinct)?;
    d.set_item("miller_madow", e.miller_madow)?;
    Ok(d)
}

macro_rules! empirical_fn {
    ($name:ident, $t:ty) => {
        /// Empirical entropy of codes of this width.
        #[pyfunction]
        #[pyo3(signature = (codes, exponent_bits, mantissa_bits, threads=None))]
        pub fn $name<'py>(
            py: Python<'py>,
            codes: PyReadonlyArray1<'py, $t>,
            exponent_bits: u32,
            mantissa_bits: u32,
            threads: Option<usize>,
        ) -> PyResult<Bound<'py, PyDict>> {
            let c = codes.as_slice()?;
            let lay = Layout {
                exponent_bits,
                mantissa_bits,
            };
            let e = py
                .detach(|| fp::empirical_entropy(c, lay, threads))
                .map_err(|e| fp_to_pyerr(e, None))?;
            empirical_dict(py, &e)
        }
    };
}

empirical_fn!(empirical_u8, u8);
empirical_fn!(empirical_u16, u16);
empirical_fn!(empirical_u32, u32);
empirical_fn!(empirical_u64, u64);

/// Registers the functions of this area.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(format_params, m)?)?;
    m.add_function(wrap_pyfunction!(format_names, m)?)?;
    m.add_function(wrap_pyfunction!(format_derived, m)?)?;
    m.add_function(wrap_pyfunction!(quantize, m)?)?;
    m.add_function(wrap_pyfunction!(quantize_codes, m)?)?;
    m.add_function(wrap_pyfunction!(entropy_law, m)?)?;
    m.add_function(wrap_pyfunction!(entropy_callback, m)?)?;
    m.add_function(wrap_pyfunction!(approx_law, m)?)?;
    m.add_function(wrap_pyfunction!(approx_callback, m)?)?;
    m.add_function(wrap_pyfunction!(closed_form_k_law, m)?)?;
    m.add_function(wrap_pyfunction!(empirical_u8, m)?)?;
    m.add_function(wrap_pyfunction!(empirical_u16, m)?)?;
    m.add_function(wrap_pyfunction!(empirical_u32, m)?)?;
    m.add_function(wrap_pyfunction!(empirical_u64, m)?)?;
    Ok(())
}
