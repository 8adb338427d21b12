//! Bindings of `boltzkit_core::spin`.
//!
//! A model crosses the boundary as a tuple built by `boltzkit.spin`:
//! `("dense", J f64 (n,n), h)`, `("dense32", J f32 (n,n), h)`,
//! `("csr", indptr int64, indices int64, data f64, h)` or `("layered", widths, [W_l f64 2-D], h)`.
//! Long calls run on a worker thread while this thread polls `check_signals`, so Ctrl-C stops
//! them within ~50 ms (the core polls a cancellation flag).

use crate::errors::{InvalidArgumentError, spin_to_pyerr};
use boltzkit_core::spin::{
    self as sp, AnnealOptions, Cancel, Couplings, Dense, EnumerateOptions, FitMode, Layered, Order,
    Rule, Sparse, SpinError, TapOptions, TemperingOptions,
};
use numpy::{
    PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

/// Model data extracted from the Python tuple (borrowing the numpy buffers).
enum ModelData<'py> {
    Dense(PyReadonlyArray2<'py, f64>, PyReadonlyArray1<'py, f64>),
    Dense32(PyReadonlyArray2<'py, f32>, PyReadonlyArray1<'py, f64>),
    Csr(
        Vec<usize>,
        Vec<usize>,
        PyReadonlyArray1<'py, f64>,
        PyReadonlyArray1<'py, f64>,
    ),
    Layered(Layered),
}

/// A checked model, ready for the core.
enum AnyModel<'a> {
    D(Dense<'a, f64>),
    F(Dense<'a, f32>),
    S(Sparse<'a>),
    L(&'a Layered),
}

fn to_usize(a: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<usize>> {
    let v: PyReadonlyArray1<i64> = a.extract()?;
    v.as_slice()?
        .iter()
        .map(|&x| {
            usize::try_from(x)
                .map_err(|_| InvalidArgumentError::new_err(format!("J: negative CSR {what} {x}")))
        })
        .collect()
}

fn extract_model<'py>(model: &Bound<'py, PyTuple>) -> PyResult<ModelData<'py>> {
    let kind: String = model.get_item(0)?.extract()?;
    match kind.as_str() {
        "dense" => Ok(ModelData::Dense(
            model.get_item(1)?.extract()?,
            model.get_item(2)?.extract()?,
        )),
        "dense32" => Ok(ModelData::Dense32(
            model.get_item(1)?.extract()?,
            model.get_item(2)?.extract()?,
        )),
        "csr" => Ok(ModelData::Csr(
            to_usize(&model.get_item(1)?, "indptr")?,
            to_usize(&model.get_item(2)?, "index")?,
            model.get_item(3)?.extract()?,
            model.get_item(4)?.extract()?,
        )),
        "layered" => {
            let widths: Vec<usize> = model.get_item(1)?.extract()?;
            let ws: Vec<PyReadonlyArray2<f64>> = model.get_item(2)?.extract()?;
            let h: PyReadonlyArray1<f64> = model.get_item(3)?.extract()?;
            let weights = ws
                .iter()
                .map(|w| w.as_slice().map(|s| s.to_vec()))
                .collect::<Result<Vec<_>, _>>()?;
            let lay =
                Layered::new(&widths, weights, h.as_slice()?.to_vec()).map_err(spin_to_pyerr)?;
            Ok(ModelData::Layered(lay))
        }
        k => Err(InvalidArgumentError::new_err(format!(
            "model: unknown storage {k:?}"
        ))),
    }
}

fn check_model<'a>(md: &'a ModelData<'_>) -> PyResult<AnyModel<'a>> {
    let r = match md {
        ModelData::Dense(j, h) => Dense::new(j.as_slice()?, h.as_slice()?).map(AnyModel::D),
        ModelData::Dense32(j, h) => Dense::new(j.as_slice()?, h.as_slice()?).map(AnyModel::F),
        ModelData::Csr(p, i, d, h) => {
            Sparse::new(p, i, d.as_slice()?, h.as_slice()?).map(AnyModel::S)
        }
        ModelData::Layered(l) => Ok(AnyModel::L(l)),
    };
    r.map_err(spin_to_pyerr)
}

/// Runs `$body` with `$m` bound to the concrete couplings.
macro_rules! dispatch {
    ($any:expr, |$m:ident| $body:expr) => {
        match $any {
            AnyModel::D($m) => $body,
            AnyModel::F($m) => $body,
            AnyModel::S($m) => $body,
            AnyModel::L(x) => {
                let $m: &Layered = x;
                $body
            }
        }
    };
}

/// Runs `f` on a worker thread with the GIL released, polling for signals; a signal's exception
/// (KeyboardInterrupt) wins over the result.
fn cancellable<T: Send>(
    py: Python<'_>,
    f: impl FnOnce(Cancel<'_>) -> Result<T, SpinError> + Send,
) -> PyResult<T> {
    with_progress(py, None, f)
}

/// [`cancellable`], calling `progress(done, total)` as the work advances.
fn with_progress<T: Send>(
    py: Python<'_>,
    progress: Option<&Py<PyAny>>,
    f: impl FnOnce(Cancel<'_>) -> Result<T, SpinError> + Send,
) -> PyResult<T> {
    crate::signals::run_controlled(py, progress, |c| f(Cancel(Some(c))))?.map_err(spin_to_pyerr)
}

fn rule(s: &str) -> PyResult<Rule> {
    match s {
        "metropolis" => Ok(Rule::Metropolis),
        "heat_bath" => Ok(Rule::HeatBath),
        _ => Err(InvalidArgumentError::new_err(format!(
            "proposal: expected 'metropolis' or 'heat_bath', got {s:?}"
        ))),
    }
}

fn order(s: &str) -> PyResult<Order> {
    match s {
        "sequential" => Ok(Order::Sequential),
        "random" => Ok(Order::Random),
        _ => Err(InvalidArgumentError::new_err(format!(
            "order: expected 'sequential' or 'random', got {s:?}"
        ))),
    }
}

fn arr2<'py, T: numpy::Element + Copy>(
    py: Python<'py>,
    v: Vec<T>,
    cols: usize,
) -> PyResult<Bound<'py, PyArray2<T>>> {
    let rows = v.len().checked_div(cols).unwrap_or(0);
    PyArray1::from_vec(py, v).reshape([rows, cols])
}

fn states_of<'a>(s: &'a Option<PyReadonlyArray2<'_, i8>>) -> PyResult<Option<&'a [i8]>> {
    match s {
        Some(a) => Ok(Some(a.as_slice()?)),
        None => Ok(None),
    }
}

/// Energies of the rows of `states` (int8, ±1).
#[pyfunction]
#[pyo3(signature = (model, states, threads=None))]
pub fn spin_energies<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyTuple>,
    states: PyReadonlyArray2<'py, i8>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let md = extract_model(model)?;
    let m = check_model(&md)?;
    let s = states.as_slice()?;
    let e = py
        .detach(|| {
            boltzkit_core::parallel::with_threads(threads, || dispatch!(&m, |c| sp::energies(c, s)))
        })
        .map_err(crate::errors::pool_to_pyerr)?
        .map_err(spin_to_pyerr)?;
    Ok(PyArray1::from_vec(py, e))
}

/// Local fields `J s + h` of the rows of `states`.
#[pyfunction]
#[pyo3(signature = (model, states, threads=None))]
pub fn spin_local_fields<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyTuple>,
    states: PyReadonlyArray2<'py, i8>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let md = extract_model(model)?;
    let m = check_model(&md)?;
    let n = dispatch!(&m, |c| c.n());
    let s = states.as_slice()?;
    let e = py
        .detach(|| {
            boltzkit_core::parallel::with_threads(threads, || {
                dispatch!(&m, |c| sp::local_fields(c, s))
            })
        })
        .map_err(crate::errors::pool_to_pyerr)?
        .map_err(spin_to_pyerr)?;
    arr2(py, e, n)
}

/// Simulated annealing (single-spin kernel).
#[pyfunction]
#[pyo3(signature = (model, betas, sweeps_per_beta, num_reads, proposal, order, initial_states, seed, trace, threads=None, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn spin_anneal<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyTuple>,
    betas: PyReadonlyArray1<'py, f64>,
    sweeps_per_beta: usize,
    num_reads: usize,
    proposal: &str,
    order: &str,
    initial_states: Option<PyReadonlyArray2<'py, i8>>,
    seed: u64,
    trace: bool,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let md = extract_model(model)?;
    let m = check_model(&md)?;
    let n = dispatch!(&m, |c| c.n());
    let b = betas.as_slice()?;
    let init = states_of(&initial_states)?;
    let (rl, ord) = (rule(proposal)?, self::order(order)?);
    let r = with_progress(py, progress.as_ref(), |cancel| {
        let o = AnnealOptions {
            betas: b,
            sweeps_per_beta,
            num_reads,
            rule: rl,
            order: ord,
            initial: init,
            seed,
            threads,
            trace,
            cancel,
        };
        dispatch!(&m, |c| sp::anneal(c, &o))
    })?;
    let d = PyDict::new(py);
    d.set_item("best_states", arr2(py, r.best_states, n)?)?;
    d.set_item("best_energies", PyArray1::from_vec(py, r.best_energies))?;
    d.set_item("final_states", arr2(py, r.final_states, n)?)?;
    d.set_item("final_energies", PyArray1::from_vec(py, r.final_energies))?;
    d.set_item("trace", arr2(py, r.trace, if trace { b.len() } else { 0 })?)?;
    d.set_item("accepted", PyArray1::from_vec(py, r.accepted))?;
    d.set_item("attempts", r.attempts)?;
    Ok(d)
}

/// Annealing / sampling with the whole-layer heat-bath kernel (layered models only).
#[pyfunction]
#[pyo3(signature = (model, betas, sweeps_per_beta, num_reads, initial_states, seed, trace, threads=None, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn spin_anneal_layered<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyTuple>,
    betas: PyReadonlyArray1<'py, f64>,
    sweeps_per_beta: usize,
    num_reads: usize,
    initial_states: Option<PyReadonlyArray2<'py, i8>>,
    seed: u64,
    trace: bool,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let md = extract_model(model)?;
    let ModelData::Layered(lay) = &md else {
        return Err(InvalidArgumentError::new_err(
            "kernel: the layered kernel needs a model built with from_layers",
        ));
    };
    let n = lay.n();
    let b = betas.as_slice()?;
    let init = states_of(&initial_states)?;
    let r = with_progress(py, progress.as_ref(), |cancel| {
        sp::anneal_layered(
            lay,
            b,
            sweeps_per_beta,
            num_reads,
            init,
            seed,
            trace,
            threads,
            cancel,
        )
    })?;
    let d = PyDict::new(py);
    d.set_item("best_states", arr2(py, r.best_states, n)?)?;
    d.set_item("best_energies", PyArray1::from_vec(py, r.best_energies))?;
    d.set_item("final_states", arr2(py, r.final_states, n)?)?;
    d.set_item("final_energies", PyArray1::from_vec(py, r.final_energies))?;
    d.set_item("trace", arr2(py, r.trace, if trace { b.len() } else { 0 })?)?;
    Ok(d)
}

/// Greedy steepest descent from each row of `states`: (states, energies, flips).
#[pyfunction]
#[pyo3(signature = (model, states, threads=None))]
#[allow(clippy::type_complexity)]
pub fn spin_descend<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyTuple>,
    states: PyReadonlyArray2<'py, i8>,
    threads: Option<usize>,
) -> PyResult<(
    Bound<'py, PyArray2<i8>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<u64>>,
)> {
    let md = extract_model(model)?;
    let m = check_model(&md)?;
    let n = dispatch!(&m, |c| c.n());
    let s = states.as_slice()?;
    let (st, e, k) = cancellable(py, |_| dispatch!(&m, |c| sp::descend(c, s, threads)))?;
    Ok((
        arr2(py, st, n)?,
        PyArray1::from_vec(py, e),
        PyArray1::from_vec(py, k),
    ))
}

/// Parallel tempering.
#[pyfunction]
#[pyo3(signature = (model, betas, n_sets, num_sweeps, burn_in, thin, proposal, record_states, seed, threads=None, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn spin_tempering<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyTuple>,
    betas: PyReadonlyArray1<'py, f64>,
    n_sets: usize,
    num_sweeps: usize,
    burn_in: usize,
    thin: usize,
    proposal: &str,
    record_states: bool,
    seed: u64,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let md = extract_model(model)?;
    let m = check_model(&md)?;
    let n = dispatch!(&m, |c| c.n());
    let b = betas.as_slice()?;
    let rl = rule(proposal)?;
    let r = with_progress(py, progress.as_ref(), |cancel| {
        let o = TemperingOptions {
            betas: b,
            n_sets,
            num_sweeps,
            burn_in,
            thin,
            rule: rl,
            record_states,
            seed,
            threads,
            cancel,
        };
        dispatch!(&m, |c| sp::tempering(c, &o))
    })?;
    let (nm, nr) = (r.n_meas, b.len());
    let d = PyDict::new(py);
    d.set_item(
        "energies",
        PyArray1::from_vec(py, r.energies).reshape([nm, n_sets, nr])?,
    )?;
    d.set_item(
        "magnetizations",
        PyArray1::from_vec(py, r.magnetizations).reshape([nm, n_sets, nr])?,
    )?;
    d.set_item(
        "overlaps",
        PyArray1::from_vec(py, r.overlaps).reshape([nm, n_sets / 2, nr])?,
    )?;
    let ns = if record_states { nm } else { 0 };
    d.set_item(
        "states",
        PyArray1::from_vec(py, r.states).reshape([ns, n_sets, nr, n])?,
    )?;
    d.set_item("swap_acceptance", PyArray1::from_vec(py, r.swap_acceptance))?;
    d.set_item("best_state", PyArray1::from_vec(py, r.best_state))?;
    d.set_item("best_energy", r.best_energy)?;
    d.set_item(
        "final_states",
        PyArray1::from_vec(py, r.final_states).reshape([n_sets, nr, n])?,
    )?;
    Ok(d)
}

/// Exact enumeration (n ≤ 26).
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (model, betas, n_lowest, correlations, overlap_distribution, threads=None, progress=None))]
pub fn spin_enumerate<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyTuple>,
    betas: PyReadonlyArray1<'py, f64>,
    n_lowest: usize,
    correlations: bool,
    overlap_distribution: bool,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let md = extract_model(model)?;
    let m = check_model(&md)?;
    let b = betas.as_slice()?;
    let r = with_progress(py, progress.as_ref(), |cancel| {
        let o = EnumerateOptions {
            betas: b,
            n_lowest,
            correlations,
            overlap_distribution,
            threads,
            cancel,
        };
        match &m {
            AnyModel::D(c) => sp::enumerate_exact(c, &o),
            AnyModel::S(c) => sp::enumerate_exact(c, &o),
            AnyModel::L(c) => sp::enumerate_exact(*c, &o),
            AnyModel::F(_) => Err(SpinError::InvalidArgument {
                arg: "model",
                msg: "exact enumeration needs float64 couplings".into(),
            }),
        }
    })?;
    let (n, nb) = (r.n, b.len());
    let d = PyDict::new(py);
    d.set_item("ln_z", PyArray1::from_vec(py, r.ln_z))?;
    d.set_item("mean_energy", PyArray1::from_vec(py, r.mean_energy))?;
    d.set_item("heat_capacity", PyArray1::from_vec(py, r.heat_capacity))?;
    d.set_item("mean_abs_m", PyArray1::from_vec(py, r.mean_abs_m))?;
    d.set_item("mean_m2", PyArray1::from_vec(py, r.mean_m2))?;
    d.set_item("mean_m4", PyArray1::from_vec(py, r.mean_m4))?;
    d.set_item("mean_s", arr2(py, r.mean_s, n)?)?;
    let nc = if correlations { nb } else { 0 };
    d.set_item("corr", PyArray1::from_vec(py, r.corr).reshape([nc, n, n])?)?;
    d.set_item("mean_q", PyArray1::from_vec(py, r.mean_q))?;
    d.set_item("mean_q2", PyArray1::from_vec(py, r.mean_q2))?;
    d.set_item("pq", arr2(py, r.pq, n + 1)?)?;
    d.set_item("lowest_energies", PyArray1::from_vec(py, r.lowest_energies))?;
    d.set_item("lowest_states", arr2(py, r.lowest_states, n)?)?;
    d.set_item("ground_energy", r.ground_energy)?;
    d.set_item("degeneracy", r.degeneracy)?;
    Ok(d)
}

/// TAP fixed points from every start, annealed over the temperatures.
#[pyfunction]
#[pyo3(signature = (model, temperatures, damping, tol, max_iter, onsager, inits, threads=None, newton=false, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn spin_tap<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyTuple>,
    temperatures: PyReadonlyArray1<'py, f64>,
    damping: f64,
    tol: f64,
    max_iter: usize,
    onsager: bool,
    inits: PyReadonlyArray2<'py, f64>,
    threads: Option<usize>,
    newton: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let md = extract_model(model)?;
    let m = check_model(&md)?;
    let n = dispatch!(&m, |c| c.n());
    let t = temperatures.as_slice()?;
    let init = inits.as_slice()?;
    let r = with_progress(py, progress.as_ref(), |cancel| {
        let o = TapOptions {
            temperatures: t,
            damping,
            tol,
            max_iter,
            onsager,
            inits: init,
            threads,
            cancel,
            newton,
        };
        dispatch!(&m, |c| sp::tap(c, &o))
    })?;
    let (s, nt) = (init.len() / n, t.len());
    let d = PyDict::new(py);
    d.set_item("m", PyArray1::from_vec(py, r.m).reshape([s, nt, n])?)?;
    d.set_item(
        "iterations",
        PyArray1::from_vec(py, r.iterations).reshape([s, nt])?,
    )?;
    d.set_item(
        "converged",
        PyArray1::from_vec(py, r.converged).reshape([s, nt])?,
    )?;
    d.set_item(
        "residual",
        PyArray1::from_vec(py, r.residual).reshape([s, nt])?,
    )?;
    d.set_item(
        "free_energy",
        PyArray1::from_vec(py, r.free_energy).reshape([s, nt])?,
    )?;
    d.set_item("q", PyArray1::from_vec(py, r.q).reshape([s, nt])?)?;
    Ok(d)
}

/// TAP free energy of magnetisations `m` at temperature `T`.
#[pyfunction]
#[pyo3(signature = (model, m, temperature, onsager=true))]
pub fn spin_tap_free_energy<'py>(
    model: &Bound<'py, PyTuple>,
    m: PyReadonlyArray1<'py, f64>,
    temperature: f64,
    onsager: bool,
) -> PyResult<f64> {
    let md = extract_model(model)?;
    let mm = check_model(&md)?;
    let n = dispatch!(&mm, |c| c.n());
    let ms = m.as_slice()?;
    if ms.len() != n || ms.iter().any(|v| v.is_nan() || v.abs() > 1.0) {
        return Err(InvalidArgumentError::new_err(format!(
            "m: expected {n} magnetisations in [-1, 1]"
        )));
    }
    if !(temperature.is_finite() && temperature > 0.0) {
        return Err(InvalidArgumentError::new_err(format!(
            "T: must be finite and > 0, got {temperature}"
        )));
    }
    Ok(dispatch!(&mm, |c| sp::tap_free_energy(
        c,
        ms,
        temperature,
        onsager
    )))
}

/// Perron eigenvalue and vector of `J∘J`: (λ, v, iterations).
#[pyfunction]
#[pyo3(signature = (model, tol, max_iter, threads=None))]
pub fn spin_perron_hadamard<'py>(
    py: Python<'py>,
    model: &Bound<'py, PyTuple>,
    tol: f64,
    max_iter: usize,
    threads: Option<usize>,
) -> PyResult<(f64, Bound<'py, PyArray1<f64>>, usize)> {
    let md = extract_model(model)?;
    let m = check_model(&md)?;
    let (l, v, it) = cancellable(py, |_| {
        Ok(boltzkit_core::parallel::with_threads(threads, || {
            dispatch!(&m, |c| sp::perron_hadamard(c, tol, max_iter))
        })?)
    })?;
    Ok((l, PyArray1::from_vec(py, v), it))
}

/// MPF ("mpf") or pseudolikelihood ("pl") objective of ±1 data: (value, dJ, dh).
#[pyfunction]
#[pyo3(signature = (data, j, h, objective, threads=None))]
#[allow(clippy::type_complexity)]
pub fn spin_fit_objective<'py>(
    py: Python<'py>,
    data: PyReadonlyArray2<'py, i8>,
    j: PyReadonlyArray2<'py, f64>,
    h: PyReadonlyArray1<'py, f64>,
    objective: &str,
    threads: Option<usize>,
) -> PyResult<(f64, Bound<'py, PyArray2<f64>>, Bound<'py, PyArray1<f64>>)> {
    let mode = match objective {
        "mpf" => FitMode::Mpf,
        "pl" => FitMode::PseudoLikelihood,
        o => {
            return Err(InvalidArgumentError::new_err(format!(
                "objective: expected 'mpf' or 'pl', got {o:?}"
            )));
        }
    };
    let (d, js, hs) = (data.as_slice()?, j.as_slice()?, h.as_slice()?);
    let n = hs.len();
    let o = cancellable(py, |cancel| {
        sp::mpf_objective_with(d, js, hs, mode, threads, cancel)
    })?;
    Ok((
        o.value,
        arr2(py, o.grad_j, n)?,
        PyArray1::from_vec(py, o.grad_h),
    ))
}

/// MPF objective in the {0,1} form `E = xᵀWx` of ±1 data: (value, dW).
#[pyfunction]
#[pyo3(signature = (data, w, all_flip, threads=None))]
pub fn spin_fit_objective01<'py>(
    py: Python<'py>,
    data: PyReadonlyArray2<'py, i8>,
    w: PyReadonlyArray2<'py, f64>,
    all_flip: bool,
    threads: Option<usize>,
) -> PyResult<(f64, Bound<'py, PyArray2<f64>>)> {
    let n = w.shape()[0];
    let (d, ws) = (data.as_slice()?, w.as_slice()?);
    let o = cancellable(py, |cancel| {
        sp::mpf_objective_01_with(d, ws, n, all_flip, threads, cancel)
    })?;
    Ok((o.value, arr2(py, o.grad_j, n)?))
}

/// Registers the functions of this area.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(spin_energies, m)?)?;
    m.add_function(wrap_pyfunction!(spin_local_fields, m)?)?;
    m.add_function(wrap_pyfunction!(spin_anneal, m)?)?;
    m.add_function(wrap_pyfunction!(spin_anneal_layered, m)?)?;
    m.add_function(wrap_pyfunction!(spin_descend, m)?)?;
    m.add_function(wrap_pyfunction!(spin_tempering, m)?)?;
    m.add_function(wrap_pyfunction!(spin_enumerate, m)?)?;
    m.add_function(wrap_pyfunction!(spin_tap, m)?)?;
    m.add_function(wrap_pyfunction!(spin_tap_free_energy, m)?)?;
    m.add_function(wrap_pyfunction!(spin_perron_hadamard, m)?)?;
    m.add_function(wrap_pyfunction!(spin_fit_objective, m)?)?;
    m.add_function(wrap_pyfunction!(spin_fit_objective01, m)?)?;
    Ok(())
}
