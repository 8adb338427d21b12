//! `boltzkit._core`: the PyO3 bindings of `boltzkit-core`.
//!
//! Thin glue only: extract arrays, validate, release the GIL around the core call
//! (`py.detach`), map errors ([`errors`]), wrap results. Algorithms live in the core crate.

use pyo3::prelude::*;

mod errors;
mod fpentropy;
mod hmc;
mod mlp;
mod signals;
mod spin;

/// Number of threads in rayon's global pool (what `threads=None` uses).
#[pyfunction]
fn default_num_threads() -> usize {
    boltzkit_core::parallel::effective_threads(None)
}

/// The compiled extension module.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", boltzkit_core::VERSION)?;
    m.add_function(wrap_pyfunction!(default_num_threads, m)?)?;
    fpentropy::register(m)?;
    hmc::register(m)?;
    mlp::register(m)?;
    spin::register(m)?;
    Ok(())
}
