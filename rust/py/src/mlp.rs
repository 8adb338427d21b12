//! Bindings of `boltzkit_core::mlp`.
//!
//! A network crosses the boundary as a tuple built by `boltzkit.mlp`:
//! `(weights: list[f64 2-D], biases: list[f64 1-D], activations: list[str], input_mean f64 1-D,
//! input_cov f64 1-D (variances) or 2-D (full matrix))`. Long calls run on a worker thread while
//! this thread polls `check_signals`, so Ctrl-C stops them between layers / batch groups.

use crate::errors::mlp_to_pyerr;
use boltzkit_core::mlp::{
    self as ml, Act, Cancel, EstimateOptions, Input, McOptions, Method, MlpError, Moments, Net,
};
use numpy::{
    PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

/// The arrays of a network tuple, held (read-only borrows) while the core borrows their data.
struct NetArrays<'py> {
    ws: Vec<PyReadonlyArray2<'py, f64>>,
    bs: Vec<PyReadonlyArray1<'py, f64>>,
    acts: Vec<String>,
    mean: PyReadonlyArray1<'py, f64>,
    cov: Bound<'py, PyAny>,
}

impl<'py> NetArrays<'py> {
    fn extract(t: &Bound<'py, PyTuple>) -> PyResult<Self> {
        Ok(NetArrays {
            ws: t.get_item(0)?.extract()?,
            bs: t.get_item(1)?.extract()?,
            acts: t.get_item(2)?.extract()?,
            mean: t.get_item(3)?.extract()?,
            cov: t.get_item(4)?,
        })
    }

    /// The checked network, borrowing the weights and biases (no copy: at width 256 a copy of
    /// 2 MB a call, in fresh pages, was most of a `kprop1` call), and its input.
    fn net(&self) -> PyResult<(Net<'_>, Input)> {
        let shapes: Vec<(usize, usize)> = self
            .ws
            .iter()
            .map(|w| (w.shape()[0], w.shape()[1]))
            .collect();
        let weights = self
            .ws
            .iter()
            .map(PyReadonlyArray2::as_slice)
            .collect::<Result<Vec<_>, _>>()?;
        let biases = self
            .bs
            .iter()
            .map(PyReadonlyArray1::as_slice)
            .collect::<Result<Vec<_>, _>>()?;
        let net = Net::new(&shapes, weights, biases, &self.acts).map_err(mlp_to_pyerr)?;
        let n0 = net.widths[0];
        let mean = self.mean.as_slice()?.to_vec();
        let input = if let Ok(c) = self.cov.extract::<PyReadonlyArray2<f64>>() {
            Input::new(n0, mean, c.as_slice()?.to_vec(), true)
        } else {
            let c: PyReadonlyArray1<f64> = self.cov.extract()?;
            Input::new(n0, mean, c.as_slice()?.to_vec(), false)
        }
        .map_err(mlp_to_pyerr)?;
        Ok((net, input))
    }
}

/// Runs `f` inside the thread pool on a worker thread with the GIL released, polling signals.
fn cancellable<T: Send>(
    py: Python<'_>,
    threads: Option<usize>,
    f: impl FnOnce(Cancel<'_>) -> Result<T, MlpError> + Send,
) -> PyResult<T> {
    with_progress(py, threads, None, f)
}

/// [`cancellable`], calling `progress(done, total)` as the work advances.
fn with_progress<T: Send>(
    py: Python<'_>,
    threads: Option<usize>,
    progress: Option<&Py<PyAny>>,
    f: impl FnOnce(Cancel<'_>) -> Result<T, MlpError> + Send,
) -> PyResult<T> {
    // started on the pool itself (a bad thread count: on a thread of its own, to fail in
    // `with_threads` as before)
    let pool = boltzkit_core::parallel::pool_for(threads).ok();
    crate::signals::run_controlled_on(py, pool.as_deref(), progress, |ctl| {
        boltzkit_core::parallel::with_threads(threads, || f(Cancel(Some(ctl))))
            .map_err(MlpError::from)
            .and_then(|r| r)
    })?
    .map_err(mlp_to_pyerr)
}

fn method(s: &str) -> PyResult<Method> {
    match s {
        "mean_prop" => Ok(Method::MeanProp),
        "cov_prop" => Ok(Method::CovProp),
        "cumulant3" => Ok(Method::Cumulant3),
        "kprop1" => Ok(Method::KProp1),
        "kprop2_augment" => Ok(Method::KProp2Augment),
        "kprop3_simple" => Ok(Method::KProp3Simple),
        "kprop3_augment" => Ok(Method::KProp3Augment),
        "kprop3_augment_factor" => Ok(Method::KProp3AugmentFactor),
        "kprop4_simple" => Ok(Method::KProp4Simple),
        "kprop4_augment" => Ok(Method::KProp4Augment),
        "kprop4_augment_factor" => Ok(Method::KProp4AugmentFactor),
        _ => Err(crate::errors::InvalidArgumentError::new_err(format!(
            "method: expected 'mean_prop', 'cov_prop', 'cumulant3', 'kprop1', 'kprop2_augment', 'kprop3_simple', \
             'kprop3_augment', 'kprop3_augment_factor', 'kprop4_simple', 'kprop4_augment' or 'kprop4_augment_factor', \
             got {s:?}"
        ))),
    }
}

fn vecs<'py>(py: Python<'py>, v: Vec<Vec<f64>>) -> Vec<Bound<'py, PyArray1<f64>>> {
    v.into_iter().map(|x| PyArray1::from_vec(py, x)).collect()
}

/// Deterministic estimate (`mean_prop`, `cov_prop`, `cumulant3`, `kprop1`, `kprop2_augment`,
/// `kprop3_simple`, `kprop3_augment`, `kprop3_augment_factor`, `kprop4_simple`, `kprop4_augment`,
/// `kprop4_augment_factor`); returns a dict of
/// per-layer lists. `init_scale` (one `w_var` per layer) selects the average metric of `kprop1`.
#[pyfunction]
#[pyo3(signature = (net, method, mehler_order=1, keep_cov=false, threads=None, init_scale=None))]
pub fn mlp_estimate<'py>(
    py: Python<'py>,
    net: &Bound<'py, PyTuple>,
    method: &str,
    mehler_order: usize,
    keep_cov: bool,
    threads: Option<usize>,
    init_scale: Option<Vec<f64>>,
) -> PyResult<Bound<'py, PyDict>> {
    let arrays = NetArrays::extract(net)?;
    let (n, input) = arrays.net()?;
    let opts = EstimateOptions {
        method: self::method(method)?,
        mehler_order,
        keep_cov,
        init_scale,
    };
    let e = cancellable(py, threads, |c| ml::estimate(&n, &input, &opts, c))?;
    let d = PyDict::new(py);
    let mut covs = Vec::new();
    let mut k3 = Vec::new();
    let (mut a, mut b, mut c, mut dd) = (vec![], vec![], vec![], vec![]);
    for (l, le) in e.layers.into_iter().enumerate() {
        let w = n.widths[l + 1];
        a.push(le.pre_mean);
        b.push(le.pre_var);
        c.push(le.post_mean);
        dd.push(le.post_var);
        if let Some(s) = le.pre_cov {
            covs.push(PyArray1::from_vec(py, s).reshape([w, w])?);
        }
        if let Some(t) = le.pre_kappa3 {
            k3.push(PyArray1::from_vec(py, t));
        }
    }
    d.set_item("pre_mean", vecs(py, a))?;
    d.set_item("pre_var", vecs(py, b))?;
    d.set_item("post_mean", vecs(py, c))?;
    d.set_item("post_var", vecs(py, dd))?;
    d.set_item("pre_cov", covs)?;
    d.set_item("pre_kappa3", k3)?;
    d.set_item("flops_by_layer", e.flops_by_layer)?;
    d.set_item("clamps", e.clamps)?;
    Ok(d)
}

/// Monte Carlo means and variances of every neuron.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (net, n_samples, batch, seed, antithetic=false, threads=None, progress=None))]
pub fn mlp_monte_carlo<'py>(
    py: Python<'py>,
    net: &Bound<'py, PyTuple>,
    n_samples: u64,
    batch: usize,
    seed: u64,
    antithetic: bool,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let arrays = NetArrays::extract(net)?;
    let (n, input) = arrays.net()?;
    let opts = McOptions {
        n_samples,
        batch,
        seed,
        antithetic,
    };
    let r = with_progress(py, threads, progress.as_ref(), |c| {
        ml::monte_carlo(&n, &input, &opts, c)
    })?;
    let d = PyDict::new(py);
    d.set_item("pre_mean", vecs(py, r.pre_mean))?;
    d.set_item("pre_var", vecs(py, r.pre_var))?;
    d.set_item("post_mean", vecs(py, r.post_mean))?;
    d.set_item("post_var", vecs(py, r.post_var))?;
    d.set_item("n_samples", r.n_samples)?;
    d.set_item("flops", r.flops)?;
    d.set_item("flops_per_sample", n.flops_per_sample())?;
    Ok(d)
}

/// Plain or importance-sampled Monte Carlo tail probabilities of one layer's pre-activations.
#[pyfunction]
#[pyo3(signature = (net, layer, threshold, shift, n_samples, batch, seed, threads=None, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn mlp_tail_mc<'py>(
    py: Python<'py>,
    net: &Bound<'py, PyTuple>,
    layer: usize,
    threshold: f64,
    shift: Option<PyReadonlyArray1<'py, f64>>,
    n_samples: u64,
    batch: usize,
    seed: u64,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let arrays = NetArrays::extract(net)?;
    let (n, input) = arrays.net()?;
    let sh = match &shift {
        Some(a) => Some(a.as_slice()?),
        None => None,
    };
    let r = with_progress(py, threads, progress.as_ref(), |c| {
        ml::tail_monte_carlo(&n, &input, layer, threshold, sh, n_samples, batch, seed, c)
    })?;
    let d = PyDict::new(py);
    d.set_item("p", PyArray1::from_vec(py, r.p))?;
    d.set_item("stderr", PyArray1::from_vec(py, r.stderr))?;
    d.set_item("hits", PyArray1::from_vec(py, r.hits))?;
    d.set_item("flops", r.flops)?;
    Ok(d)
}

/// Reverse-mode gradient of `Σ c_mean m + Σ c_var v` at layer `layer`: `(value, dW list, db list)`.
/// `method` `mean_prop` / `cov_prop` (any Mehler order) or `kprop2_augment` (kprop `K = 2`
/// AUGMENT): with `avg_metric`, the average metric `init_scale` (constants) or, when `None`, the
/// mean squared row norms of the weights (differentiated through).
#[pyfunction]
#[pyo3(signature = (net, method, mehler_order, layer, c_mean, c_var, threads=None, init_scale=None, avg_metric=false))]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
pub fn mlp_gradient<'py>(
    py: Python<'py>,
    net: &Bound<'py, PyTuple>,
    method: &str,
    mehler_order: usize,
    layer: usize,
    c_mean: PyReadonlyArray1<'py, f64>,
    c_var: PyReadonlyArray1<'py, f64>,
    threads: Option<usize>,
    init_scale: Option<Vec<f64>>,
    avg_metric: bool,
) -> PyResult<(
    f64,
    Vec<Bound<'py, PyArray2<f64>>>,
    Vec<Bound<'py, PyArray1<f64>>>,
)> {
    let arrays = NetArrays::extract(net)?;
    let (n, input) = arrays.net()?;
    let m = self::method(method)?;
    let (cm, cv) = (c_mean.as_slice()?, c_var.as_slice()?);
    let metric = match (avg_metric, init_scale.as_deref()) {
        (false, _) => ml::KpropMetric::Exact,
        (true, Some(sc)) => ml::KpropMetric::Average(sc),
        (true, None) => ml::KpropMetric::AverageOfRows,
    };
    let g = cancellable(py, threads, |c| {
        if m == Method::KProp2Augment {
            ml::kprop2_gradient(&n, &input, metric, layer, cm, cv, c)
        } else {
            ml::gradient(&n, &input, m, mehler_order, layer, cm, cv, c)
        }
    })?;
    let mut dws = Vec::new();
    for (l, w) in g.d_weights.into_iter().enumerate() {
        dws.push(PyArray1::from_vec(py, w).reshape([n.widths[l + 1], n.widths[l]])?);
    }
    Ok((g.value, dws, vecs(py, g.d_biases)))
}

fn act(name: &str) -> PyResult<Act> {
    Act::from_name(name).ok_or_else(|| {
        crate::errors::InvalidArgumentError::new_err(format!(
            "activations: unknown activation {name:?}"
        ))
    })
}

/// Infinite-width recursion: list of `(q_l, k_l)` per linear layer.
#[pyfunction]
pub fn mlp_mean_field(
    acts: Vec<String>,
    w_var: Vec<f64>,
    b_var: Vec<f64>,
    q_in: f64,
) -> PyResult<Vec<(f64, f64)>> {
    let a = acts.iter().map(|s| act(s)).collect::<PyResult<Vec<_>>>()?;
    ml::mean_field(&a, &w_var, &b_var, q_in).map_err(mlp_to_pyerr)
}

/// 1-D Gaussian expectations for arrays `m`, `v`: dict with `g` (n × (kmax+1)), `e2`, `var`,
/// `e3`, `e4`, `kappa3`, `kappa4`.
#[pyfunction]
pub fn mlp_gauss_moments<'py>(
    py: Python<'py>,
    activation: &str,
    m: PyReadonlyArray1<'py, f64>,
    v: PyReadonlyArray1<'py, f64>,
    kmax: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let a = act(activation)?;
    let (m, v) = (m.as_slice()?, v.as_slice()?);
    if m.len() != v.len()
        || m.iter().chain(v).any(|x| !x.is_finite())
        || v.iter().any(|x| *x <= 0.0)
    {
        return Err(crate::errors::InvalidArgumentError::new_err(
            "m, v: need equal lengths, finite values and v > 0",
        ));
    }
    let k = kmax.clamp(3, ml::gauss::MAX_ORDER);
    let moms: Vec<Moments> = m
        .iter()
        .zip(v)
        .map(|(&mi, &vi)| Moments::compute(a, mi, vi, k, true))
        .collect();
    let d = PyDict::new(py);
    let g: Vec<f64> = moms.iter().flat_map(|x| x.g.clone()).collect();
    d.set_item("g", PyArray1::from_vec(py, g).reshape([m.len(), k + 1])?)?;
    let col = |f: &dyn Fn(&Moments) -> f64| PyArray1::from_vec(py, moms.iter().map(f).collect());
    d.set_item("e2", col(&|x| x.e2))?;
    d.set_item("var", col(&Moments::var))?;
    d.set_item("e3", col(&|x| x.e3))?;
    d.set_item("e4", col(&|x| x.e4))?;
    d.set_item("kappa3", col(&Moments::kappa3))?;
    d.set_item("kappa4", col(&Moments::kappa4))?;
    Ok(d)
}

/// Registers the functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(mlp_estimate, m)?)?;
    m.add_function(wrap_pyfunction!(mlp_monte_carlo, m)?)?;
    m.add_function(wrap_pyfunction!(mlp_tail_mc, m)?)?;
    m.add_function(wrap_pyfunction!(mlp_gradient, m)?)?;
    m.add_function(wrap_pyfunction!(mlp_mean_field, m)?)?;
    m.add_function(wrap_pyfunction!(mlp_gauss_moments, m)?)?;
    Ok(())
}
