//! Bindings of `boltzkit_core::hmc`.

use crate::errors::{InvalidArgumentError, hmc_to_pyerr, pool_to_pyerr};
use boltzkit_core::hmc::{
    self as core, BatchTarget, Builtin, Config, HmcError, Method, Metric, Nuts, NutsConfig,
    NutsWarmup, Sampler, Target, WarmupPlan, diag,
};
use numpy::ndarray::{Array1, Array2, Array3, ArrayView2};
use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArray3, PyReadonlyArray1, PyReadonlyArray2,
    PyReadonlyArray3, PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Energies `(n,)` and gradients `(n, d)`.
type EnergyGrad<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray2<f64>>);

fn check(t: Builtin) -> PyResult<Builtin> {
    t.validate().map_err(|e| hmc_to_pyerr(e, None))?;
    Ok(t)
}

fn mat(a: &PyReadonlyArray2<'_, f64>) -> PyResult<(usize, usize, Vec<f64>)> {
    let (r, c) = (a.shape()[0], a.shape()[1]);
    Ok((r, c, a.as_slice()?.to_vec()))
}

/// A built-in target (spec §5) evaluated natively.
#[pyclass(module = "boltzkit._core", frozen)]
pub struct HmcTarget {
    inner: Builtin,
}

#[pymethods]
impl HmcTarget {
    /// `E = Σ c_i x_i² / 2`.
    #[staticmethod]
    fn gaussian_diag(precisions: PyReadonlyArray1<'_, f64>) -> PyResult<Self> {
        Ok(Self {
            inner: check(Builtin::GaussianDiag {
                c: precisions.as_slice()?.to_vec(),
            })?,
        })
    }

    /// `E = xᵀ J x / 2`.
    #[staticmethod]
    fn gaussian_dense(precision: PyReadonlyArray2<'_, f64>) -> PyResult<Self> {
        let (r, c, j) = mat(&precision)?;
        if r != c {
            return Err(InvalidArgumentError::new_err(format!(
                "precision: must be square, got {r}×{c}"
            )));
        }
        Ok(Self {
            inner: check(Builtin::GaussianDense { d: r, j })?,
        })
    }

    /// `E = Σ [x_i²/(2a²) + cos(2π x_i / b)]`.
    #[staticmethod]
    fn rough_well(dim: usize, a: f64, b: f64) -> PyResult<Self> {
        Ok(Self {
            inner: check(Builtin::RoughWell { d: dim, a, b })?,
        })
    }

    /// `E = Σ_j (ν_j+1)/2 ln(1 + (w_j·x + b_j)²/ν_j)`.
    #[staticmethod]
    fn product_of_t(
        w: PyReadonlyArray2<'_, f64>,
        b: PyReadonlyArray1<'_, f64>,
        nu: PyReadonlyArray1<'_, f64>,
    ) -> PyResult<Self> {
        let (_, d, w) = mat(&w)?;
        Ok(Self {
            inner: check(Builtin::ProductOfT {
                d,
                w,
                b: b.as_slice()?.to_vec(),
                nu: nu.as_slice()?.to_vec(),
            })?,
        })
    }

    /// `E = −ln(exp(−‖x−m‖²) + exp(−‖x+m‖²))`.
    #[staticmethod]
    fn bimodal(m: PyReadonlyArray1<'_, f64>) -> PyResult<Self> {
        Ok(Self {
            inner: check(Builtin::Bimodal {
                m: m.as_slice()?.to_vec(),
            })?,
        })
    }

    /// Neal's funnel.
    #[staticmethod]
    fn funnel(dim: usize, sigma: f64) -> PyResult<Self> {
        Ok(Self {
            inner: check(Builtin::Funnel { d: dim, sigma })?,
        })
    }

    /// Bayesian logistic regression.
    #[staticmethod]
    fn logistic(
        x: PyReadonlyArray2<'_, f64>,
        y: PyReadonlyArray1<'_, f64>,
        prior_scale: f64,
    ) -> PyResult<Self> {
        let (_, d, x) = mat(&x)?;
        Ok(Self {
            inner: check(Builtin::Logistic {
                x,
                y: y.as_slice()?.to_vec(),
                d,
                prior_scale,
            })?,
        })
    }

    /// Dimension.
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// Energies `(n,)` and gradients `(n, d)` at the rows of `x` (`(n, d)`).
    #[pyo3(signature = (x, threads=None))]
    fn energy_grad<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f64>,
        threads: Option<usize>,
    ) -> PyResult<EnergyGrad<'py>> {
        let d = self.inner.dim();
        let n = x.shape()[0];
        if x.shape()[1] != d {
            return Err(InvalidArgumentError::new_err(format!(
                "x: expected {d} columns, got {}",
                x.shape()[1]
            )));
        }
        let xs = x.as_slice()?;
        let t = &self.inner;
        let (e, g) = py
            .detach(|| {
                boltzkit_core::parallel::with_threads(threads, || {
                    use rayon::prelude::*;
                    let mut g = vec![0.0; n * d];
                    let e: Vec<f64> = g
                        .par_chunks_mut(d.max(1))
                        .zip(xs.par_chunks(d.max(1)))
                        .map(|(gi, xi)| t.energy_grad(xi, gi))
                        .collect();
                    (e, g)
                })
            })
            .map_err(pool_to_pyerr)?;
        let g = Array2::from_shape_vec((n, d), g)
            .map_err(|e| InvalidArgumentError::new_err(e.to_string()))?;
        Ok((e.into_pyarray(py), g.into_pyarray(py)))
    }
}

/// A Python callable `f(x: (n, d)) -> (energy (n,), grad (n, d))` whose shapes the Python layer
/// has checked (`boltzkit.hmc._Callback`); float64 arrays of any strides. With `negate` (read
/// once from the callable's `negate` attribute) it returns a log density and its gradient, negated
/// here while copying. A NaN or infinite energy reads as `+∞` (outside the support: the samplers
/// reject the point as a divergence). The exception of a failing call is kept and re-raised by
/// the binding.
struct PyBatch {
    f: Py<PyAny>,
    dim: usize,
    negate: bool,
    error: Option<PyErr>,
}

/// `dst = ±src` (`src` of any strides).
fn copy_signed<'a>(dst: &mut [f64], src: impl Iterator<Item = &'a f64>, negate: bool) {
    if negate {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = -*s;
        }
    } else {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s;
        }
    }
}

impl BatchTarget for PyBatch {
    fn dim(&self) -> usize {
        self.dim
    }

    fn energy_grad_batch(
        &mut self,
        xs: &[f64],
        energies: &mut [f64],
        grads: &mut [f64],
    ) -> Result<(), HmcError> {
        let (n, d, negate) = (energies.len(), self.dim, self.negate);
        let res: PyResult<()> = Python::attach(|py| {
            let view = ArrayView2::from_shape((n, d), xs)
                .map_err(|e| InvalidArgumentError::new_err(e.to_string()))?;
            let x = PyArray2::from_array(py, &view);
            let out = self.f.call1(py, (x,))?;
            let (e, g): (PyReadonlyArray1<f64>, PyReadonlyArray2<f64>) = out.extract(py)?;
            let (e, g) = (e.as_array(), g.as_array());
            if e.len() != n || g.len() != n * d {
                return Err(InvalidArgumentError::new_err(format!(
                    "target: returned {} energies and {} gradient values for {n} points in {d} dimensions",
                    e.len(),
                    g.len()
                )));
            }
            match g.as_slice() {
                Some(gs) if !negate => grads.copy_from_slice(gs),
                Some(gs) => copy_signed(grads, gs.iter(), true),
                None => copy_signed(grads, g.iter(), negate),
            }
            copy_signed(energies, e.iter(), negate);
            for v in energies.iter_mut() {
                if !v.is_finite() {
                    *v = f64::INFINITY;
                }
            }
            Ok(())
        });
        res.map_err(|err| {
            let msg = Python::attach(|py| err.value(py).to_string());
            self.error = Some(err);
            HmcError::Target(msg)
        })
    }
}

enum Tgt {
    Native(Builtin),
    Py(PyBatch),
}

/// A multi-chain run, advanced in chunks (so the Python layer can show progress and react to
/// Ctrl-C between chunks).
#[pyclass(module = "boltzkit._core")]
pub struct HmcRun {
    sampler: Sampler,
    target: Tgt,
}

impl HmcRun {
    fn err(&mut self, e: HmcError) -> PyErr {
        let cb = match &mut self.target {
            Tgt::Py(p) => p.error.take(),
            Tgt::Native(_) => None,
        };
        hmc_to_pyerr(e, cb)
    }
}

#[pymethods]
impl HmcRun {
    /// `target`: an `HmcTarget` or a callable of a batch. `x0`: `(n_chains, dim)` starts.
    /// `inverse_mass_matrix`: `(dim,)` diagonal or `(dim, dim)` dense (as a 2-D array), or None.
    #[new]
    #[pyo3(signature = (target, method, x0, step_size, n_leapfrog, beta, refresh_rate, look_ahead, cache, thin, inverse_mass_matrix, seed))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        target: &Bound<'_, PyAny>,
        method: &str,
        x0: PyReadonlyArray2<'_, f64>,
        step_size: f64,
        n_leapfrog: usize,
        beta: f64,
        refresh_rate: f64,
        look_ahead: usize,
        cache: bool,
        thin: usize,
        inverse_mass_matrix: Option<&Bound<'_, PyAny>>,
        seed: u64,
    ) -> PyResult<Self> {
        let method = Method::parse(method).map_err(|e| hmc_to_pyerr(e, None))?;
        let (n_chains, d) = (x0.shape()[0], x0.shape()[1]);
        let tgt = parse_target(target, d)?;
        let metric = parse_metric(inverse_mass_matrix, d)?;
        let cfg = Config {
            method,
            step_size,
            n_leapfrog,
            beta,
            refresh_rate,
            look_ahead,
            cache,
            thin,
        };
        let sampler = Sampler::new(cfg, metric, x0.as_slice()?, n_chains, seed)
            .map_err(|e| hmc_to_pyerr(e, None))?;
        Ok(Self {
            sampler,
            target: tgt,
        })
    }

    /// Jitters the step size and leapfrog steps of each iteration by the fraction `jitter`.
    fn set_jitter(&mut self, jitter: f64, seed: u64) -> PyResult<()> {
        self.sampler
            .set_jitter(jitter, seed)
            .map_err(|e| hmc_to_pyerr(e, None))
    }

    /// Evaluates the target at the starts and draws the first momenta.
    fn init(&mut self, py: Python<'_>) -> PyResult<()> {
        let r = match &mut self.target {
            Tgt::Native(t) => {
                let (s, t) = (&mut self.sampler, &*t);
                py.detach(|| s.init(t))
            }
            Tgt::Py(p) => self.sampler.init_batched(p),
        };
        r.map_err(|e| self.err(e))
    }

    /// Starts a warm-up.
    fn start_warmup(
        &mut self,
        n_iter: usize,
        adapt_step_size: bool,
        adapt_metric: bool,
        target_accept: f64,
    ) -> PyResult<()> {
        let plan = WarmupPlan {
            n_iter,
            adapt_step_size,
            adapt_metric,
            target_accept,
        };
        self.sampler
            .start_warmup(plan)
            .map_err(|e| hmc_to_pyerr(e, None))
    }

    /// Warm-up iterations left.
    #[getter]
    fn warmup_left(&self) -> usize {
        self.sampler.warmup_left()
    }

    /// Runs up to `n_iter` warm-up iterations.
    #[pyo3(signature = (n_iter, threads=None))]
    fn warmup(&mut self, py: Python<'_>, n_iter: usize, threads: Option<usize>) -> PyResult<()> {
        let r = match &mut self.target {
            Tgt::Native(t) => {
                let (s, t) = (&mut self.sampler, &*t);
                py.detach(|| s.warmup_builtin(t, n_iter, threads))
            }
            Tgt::Py(p) => self.sampler.warmup_batched(p, n_iter),
        };
        r.map_err(|e| self.err(e))
    }

    /// Makes room for `n_iter` recorded iterations (call once before running them in chunks).
    fn reserve(&mut self, py: Python<'_>, n_iter: usize) -> PyResult<()> {
        let s = &mut self.sampler;
        py.detach(|| s.reserve(n_iter))
            .map_err(|e| hmc_to_pyerr(e, None))
    }

    /// Runs `n_iter` recorded iterations.
    #[pyo3(signature = (n_iter, threads=None))]
    fn run(&mut self, py: Python<'_>, n_iter: usize, threads: Option<usize>) -> PyResult<()> {
        let r = match &mut self.target {
            Tgt::Native(t) => {
                let (s, t) = (&mut self.sampler, &*t);
                py.detach(|| s.run_builtin(t, n_iter, threads))
            }
            Tgt::Py(p) => self.sampler.run_batched(p, n_iter),
        };
        r.map_err(|e| self.err(e))
    }

    /// The current step size.
    #[getter]
    fn step_size(&self) -> f64 {
        self.sampler.cfg.step_size
    }

    /// The current inverse mass matrix: `(dim,)` diagonal or `(dim, dim)` dense.
    #[getter]
    fn inverse_mass_matrix<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(match &self.sampler.metric {
            Metric::Diag { minv, .. } => PyArray1::from_slice(py, minv).into_any(),
            Metric::Dense { d, minv, .. } => Array2::from_shape_vec((*d, *d), minv.clone())
                .map_err(|e| InvalidArgumentError::new_err(e.to_string()))?
                .into_pyarray(py)
                .into_any(),
        })
    }

    /// The records: x `(chains, n, dim)`, tau / moves / accept / energy `(chains, n)`,
    /// grads / warmup_grads `(chains,)`.
    fn output<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let o = self
            .sampler
            .try_output()
            .map_err(|e| hmc_to_pyerr(e, None))?;
        let (c, n, d) = (o.n_chains, o.n_records, o.dim);
        let shape_err =
            |e: numpy::ndarray::ShapeError| InvalidArgumentError::new_err(e.to_string());
        let dict = PyDict::new(py);
        dict.set_item(
            "x",
            Array3::from_shape_vec((c, n, d), o.x)
                .map_err(shape_err)?
                .into_pyarray(py),
        )?;
        let nt = if o.tau.is_empty() { 0 } else { n };
        dict.set_item(
            "tau",
            Array2::from_shape_vec((c, nt), o.tau)
                .map_err(shape_err)?
                .into_pyarray(py),
        )?;
        dict.set_item(
            "moves",
            Array2::from_shape_vec((c, n), o.moves)
                .map_err(shape_err)?
                .into_pyarray(py),
        )?;
        dict.set_item(
            "accept",
            Array2::from_shape_vec((c, n), o.accept)
                .map_err(shape_err)?
                .into_pyarray(py),
        )?;
        dict.set_item(
            "energy",
            Array2::from_shape_vec((c, n), o.energy)
                .map_err(shape_err)?
                .into_pyarray(py),
        )?;
        dict.set_item(
            "kinetic",
            Array2::from_shape_vec((c, n), o.kinetic)
                .map_err(shape_err)?
                .into_pyarray(py),
        )?;
        dict.set_item(
            "diverging",
            Array2::from_shape_vec((c, n), o.diverging)
                .map_err(shape_err)?
                .into_pyarray(py),
        )?;
        dict.set_item("grads", Array1::from_vec(o.grads).into_pyarray(py))?;
        dict.set_item(
            "warmup_grads",
            Array1::from_vec(o.warmup_grads).into_pyarray(py),
        )?;
        Ok(dict)
    }
}

fn parse_target(target: &Bound<'_, PyAny>, d: usize) -> PyResult<Tgt> {
    Ok(if let Ok(t) = target.cast::<HmcTarget>() {
        let inner = t.get().inner.clone();
        if inner.dim() != d {
            return Err(InvalidArgumentError::new_err(format!(
                "x0: the target has dimension {}, x0 has {d} columns",
                inner.dim()
            )));
        }
        Tgt::Native(inner)
    } else {
        // a log-density callback says so once (boltzkit.hmc._Callback.negate)
        let negate = target
            .getattr("negate")
            .ok()
            .and_then(|v| v.extract::<bool>().ok())
            .unwrap_or(false);
        Tgt::Py(PyBatch {
            f: target.clone().unbind(),
            dim: d,
            negate,
            error: None,
        })
    })
}

fn parse_metric(inverse_mass_matrix: Option<&Bound<'_, PyAny>>, d: usize) -> PyResult<Metric> {
    Ok(match inverse_mass_matrix {
        None => Metric::identity(d),
        Some(m) => {
            if let Ok(v) = m.extract::<PyReadonlyArray1<f64>>() {
                if v.len() != d {
                    return Err(InvalidArgumentError::new_err(format!(
                        "inverse_mass_matrix: expected {d} diagonal entries, got {}",
                        v.len()
                    )));
                }
                Metric::diag(v.as_slice()?.to_vec()).map_err(|e| hmc_to_pyerr(e, None))?
            } else {
                let v: PyReadonlyArray2<f64> = m.extract()?;
                let (r, c, a) = mat(&v)?;
                if r != d || c != d {
                    return Err(InvalidArgumentError::new_err(format!(
                        "inverse_mass_matrix: expected shape ({d},) or ({d}, {d}), got ({r}, {c})"
                    )));
                }
                Metric::dense(d, a).map_err(|e| hmc_to_pyerr(e, None))?
            }
        }
    })
}

fn metric_to_py<'py>(py: Python<'py>, m: &Metric) -> PyResult<Bound<'py, PyAny>> {
    Ok(match m {
        Metric::Diag { minv, .. } => PyArray1::from_slice(py, minv).into_any(),
        Metric::Dense { d, minv, .. } => Array2::from_shape_vec((*d, *d), minv.clone())
            .map_err(|e| InvalidArgumentError::new_err(e.to_string()))?
            .into_pyarray(py)
            .into_any(),
    })
}

/// A multi-chain NUTS run, advanced in chunks.
#[pyclass(module = "boltzkit._core")]
pub struct NutsRun {
    nuts: Nuts,
    target: Tgt,
}

impl NutsRun {
    fn err(&mut self, e: HmcError) -> PyErr {
        let cb = match &mut self.target {
            Tgt::Py(p) => p.error.take(),
            Tgt::Native(_) => None,
        };
        hmc_to_pyerr(e, cb)
    }
}

#[pymethods]
impl NutsRun {
    /// `target`: an `HmcTarget` or a callable of a batch; `x0`: `(n_chains, dim)` starts.
    #[new]
    #[pyo3(signature = (target, x0, step_size, inverse_mass_matrix, max_tree_depth, max_energy_error, seed))]
    fn new(
        target: &Bound<'_, PyAny>,
        x0: PyReadonlyArray2<'_, f64>,
        step_size: f64,
        inverse_mass_matrix: Option<&Bound<'_, PyAny>>,
        max_tree_depth: usize,
        max_energy_error: f64,
        seed: u64,
    ) -> PyResult<Self> {
        let (n_chains, d) = (x0.shape()[0], x0.shape()[1]);
        let tgt = parse_target(target, d)?;
        let metric = parse_metric(inverse_mass_matrix, d)?;
        let cfg = NutsConfig {
            max_depth: max_tree_depth,
            max_delta_h: max_energy_error,
        };
        let nuts = Nuts::new(cfg, metric, step_size, x0.as_slice()?, n_chains, seed)
            .map_err(|e| hmc_to_pyerr(e, None))?;
        Ok(Self { nuts, target: tgt })
    }

    /// Evaluates the target at the starts.
    fn init(&mut self, py: Python<'_>) -> PyResult<()> {
        let r = match &mut self.target {
            Tgt::Native(t) => {
                let (s, t) = (&mut self.nuts, &*t);
                py.detach(|| s.init(t))
            }
            Tgt::Py(p) => self.nuts.init_batched(p),
        };
        r.map_err(|e| self.err(e))
    }

    /// Starts a warm-up.
    #[allow(clippy::too_many_arguments)]
    fn start_warmup(
        &mut self,
        n_iter: usize,
        adapt_step_size: bool,
        adapt_metric: bool,
        dense: bool,
        target_accept: f64,
        pooled: bool,
        save: bool,
    ) -> PyResult<()> {
        let plan = NutsWarmup {
            n_iter,
            adapt_step_size,
            adapt_metric,
            dense,
            target_accept,
            pooled,
            save,
        };
        self.nuts
            .start_warmup(plan)
            .map_err(|e| hmc_to_pyerr(e, None))
    }

    /// Warm-up iterations left.
    #[getter]
    fn warmup_left(&self) -> usize {
        self.nuts.warmup_left()
    }

    /// Runs up to `n_iter` warm-up iterations.
    #[pyo3(signature = (n_iter, threads=None))]
    fn warmup(&mut self, py: Python<'_>, n_iter: usize, threads: Option<usize>) -> PyResult<()> {
        let r = match &mut self.target {
            Tgt::Native(t) => {
                let (s, t) = (&mut self.nuts, &*t);
                py.detach(|| s.warmup(t, n_iter, threads))
            }
            Tgt::Py(p) => self.nuts.warmup_batched(p, n_iter),
        };
        r.map_err(|e| self.err(e))
    }

    /// Makes room for `n_iter` draws per chain.
    fn reserve(&mut self, n_iter: usize) -> PyResult<()> {
        self.nuts.reserve(n_iter).map_err(|e| hmc_to_pyerr(e, None))
    }

    /// Runs `n_iter` recorded iterations.
    #[pyo3(signature = (n_iter, threads=None))]
    fn run(&mut self, py: Python<'_>, n_iter: usize, threads: Option<usize>) -> PyResult<()> {
        let r = match &mut self.target {
            Tgt::Native(t) => {
                let (s, t) = (&mut self.nuts, &*t);
                py.detach(|| s.run(t, n_iter, threads))
            }
            Tgt::Py(p) => self.nuts.run_batched(p, n_iter),
        };
        r.map_err(|e| self.err(e))
    }

    /// Step size of every chain, `(n_chains,)`.
    #[getter]
    fn step_sizes<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_vec(py, self.nuts.step_sizes())
    }

    /// Inverse mass matrix of chain `c`: `(dim,)` or `(dim, dim)`.
    fn inverse_mass_matrix<'py>(&self, py: Python<'py>, c: usize) -> PyResult<Bound<'py, PyAny>> {
        if c >= self.nuts.n_chains() {
            return Err(InvalidArgumentError::new_err(format!(
                "c: must be < {}, got {c}",
                self.nuts.n_chains()
            )));
        }
        metric_to_py(py, self.nuts.metric(c))
    }

    /// The draws (`warmup`: the kept warm-up draws): x `(chains, n, dim)`; energy, hamiltonian,
    /// accept, step_size, depth, n_steps, diverging `(chains, n)`; grads, warmup_grads `(chains,)`.
    fn output<'py>(&self, py: Python<'py>, warmup: bool) -> PyResult<Bound<'py, PyDict>> {
        let o = self.nuts.output(warmup);
        let (c, n, d) = (o.n_chains, o.n_records, o.dim);
        let shape_err =
            |e: numpy::ndarray::ShapeError| InvalidArgumentError::new_err(e.to_string());
        let dict = PyDict::new(py);
        dict.set_item(
            "x",
            Array3::from_shape_vec((c, n, d), o.x)
                .map_err(shape_err)?
                .into_pyarray(py),
        )?;
        for (k, v) in [
            ("energy", o.energy),
            ("hamiltonian", o.hamiltonian),
            ("accept", o.accept),
            ("step_size", o.step_size),
        ] {
            dict.set_item(
                k,
                Array2::from_shape_vec((c, n), v)
                    .map_err(shape_err)?
                    .into_pyarray(py),
            )?;
        }
        for (k, v) in [("depth", o.depth), ("n_steps", o.n_steps)] {
            dict.set_item(
                k,
                Array2::from_shape_vec((c, n), v)
                    .map_err(shape_err)?
                    .into_pyarray(py),
            )?;
        }
        dict.set_item(
            "diverging",
            Array2::from_shape_vec((c, n), o.diverging)
                .map_err(shape_err)?
                .into_pyarray(py),
        )?;
        dict.set_item("grads", Array1::from_vec(o.grads).into_pyarray(py))?;
        dict.set_item(
            "warmup_grads",
            Array1::from_vec(o.warmup_grads).into_pyarray(py),
        )?;
        Ok(dict)
    }
}

/// ESS of the mean of every coordinate (or its square) of `x` `(chains, draws, dim)`.
#[pyfunction]
#[pyo3(signature = (x, square=false, split=true, threads=None))]
pub fn hmc_ess<'py>(
    py: Python<'py>,
    x: PyReadonlyArray3<'py, f64>,
    square: bool,
    split: bool,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let (c, n, d) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let xs = x.as_slice()?;
    let v = py
        .detach(|| diag::ess_multi(xs, c, n, d, square, split, threads))
        .map_err(pool_to_pyerr)?;
    Ok(PyArray1::from_vec(py, v))
}

/// Autocorrelation `(dim, lags)` of every coordinate (or its square) of `x` `(chains, draws, dim)`.
#[pyfunction]
#[pyo3(signature = (x, max_lag, square=false, threads=None))]
pub fn hmc_autocorr<'py>(
    py: Python<'py>,
    x: PyReadonlyArray3<'py, f64>,
    max_lag: usize,
    square: bool,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let (c, n, d) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    let xs = x.as_slice()?;
    let v = py
        .detach(|| diag::autocorrelation_multi(xs, c, n, d, square, max_lag, threads))
        .map_err(pool_to_pyerr)?;
    let lags = if n == 0 || c == 0 {
        0
    } else {
        max_lag.min(n - 1) + 1
    };
    let a = Array2::from_shape_vec((d, lags), v)
        .map_err(|e| InvalidArgumentError::new_err(e.to_string()))?;
    Ok(a.into_pyarray(py))
}

/// States `(chains, jumps, dim)` with holding times `(chains, jumps)` read at `(j + ½) dt`.
#[pyfunction]
pub fn hmc_grid<'py>(
    py: Python<'py>,
    x: PyReadonlyArray3<'py, f64>,
    tau: PyReadonlyArray2<'py, f64>,
    dt: f64,
) -> PyResult<Bound<'py, PyArray3<f64>>> {
    let (c, n, d) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    if tau.shape() != [c, n] {
        return Err(InvalidArgumentError::new_err(format!(
            "tau: expected shape ({c}, {n}), got {:?}",
            tau.shape()
        )));
    }
    let (xs, ts) = (x.as_slice()?, tau.as_slice()?);
    let (g, m) = py
        .detach(|| diag::grid(xs, ts, c, n, d, dt))
        .map_err(|e| hmc_to_pyerr(e, None))?;
    let a = Array3::from_shape_vec((c, m, d), g)
        .map_err(|e| InvalidArgumentError::new_err(e.to_string()))?;
    Ok(a.into_pyarray(py))
}

/// Registers the HMC classes and functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<HmcTarget>()?;
    m.add_class::<HmcRun>()?;
    m.add_class::<NutsRun>()?;
    m.add_function(wrap_pyfunction!(hmc_ess, m)?)?;
    m.add_function(wrap_pyfunction!(hmc_autocorr, m)?)?;
    m.add_function(wrap_pyfunction!(hmc_grid, m)?)?;
    m.add("HMC_MOVE_REFRESH", core::MOVE_REFRESH)?;
    Ok(())
}
