//! Mapping of core errors to Python exceptions.
//!
//! The exception classes live in `boltzkit/errors.py` (so they can subclass both
//! `BoltzkitError` and `ValueError` / `TypeError` / `RuntimeError`); they are imported here.
//! Every core error type has one `*_to_pyerr` function with an exhaustive `match`, so a new
//! variant forces a decision about the Python exception it becomes.

use boltzkit_core::fpentropy::FpError;
use boltzkit_core::hmc::HmcError;
use boltzkit_core::mlp::MlpError;
use boltzkit_core::parallel::PoolError;
use boltzkit_core::spin::SpinError;
use pyo3::prelude::*;

pyo3::import_exception!(boltzkit.errors, InvalidArgumentError);
pyo3::import_exception!(boltzkit.errors, ComputationError);

/// Converts a thread-pool error.
pub fn pool_to_pyerr(e: PoolError) -> PyErr {
    match e {
        PoolError::BadThreadCount { .. } => InvalidArgumentError::new_err(format!("threads: {e}")),
        PoolError::Build { .. } => ComputationError::new_err(format!("threads: {e}")),
    }
}

/// Converts an error of the floating-point entropy module. `callback_err` holds the exception a
/// Python density raised, if any: that exception is re-raised unchanged.
pub fn fp_to_pyerr(e: FpError, callback_err: Option<PyErr>) -> PyErr {
    match e {
        FpError::UnknownFormat(_) | FpError::InvalidArgument { .. } | FpError::TooLarge { .. } => {
            InvalidArgumentError::new_err(e.to_string())
        }
        FpError::Density(_) => match callback_err {
            Some(err) => err,
            None => InvalidArgumentError::new_err(e.to_string()),
        },
        FpError::Numerical(_) => ComputationError::new_err(e.to_string()),
        FpError::Pool(p) => pool_to_pyerr(p),
    }
}

/// Converts an error of the HMC module. `callback_err` holds the exception a Python target
/// raised, if any: that exception is re-raised unchanged.
pub fn hmc_to_pyerr(e: HmcError, callback_err: Option<PyErr>) -> PyErr {
    match e {
        HmcError::Invalid { .. } => InvalidArgumentError::new_err(e.to_string()),
        HmcError::Target(_) => match callback_err {
            Some(err) => err,
            None => InvalidArgumentError::new_err(e.to_string()),
        },
        HmcError::Stuck { .. } => ComputationError::new_err(e.to_string()),
        HmcError::Pool(p) => pool_to_pyerr(p),
    }
}

/// Converts an error of the spin module.
pub fn spin_to_pyerr(e: SpinError) -> PyErr {
    match e {
        SpinError::InvalidArgument { .. } | SpinError::TooLarge { .. } => {
            InvalidArgumentError::new_err(e.to_string())
        }
        SpinError::Cancelled => pyo3::exceptions::PyKeyboardInterrupt::new_err("cancelled"),
        SpinError::Pool(p) => pool_to_pyerr(p),
    }
}

/// Converts an error of the MLP module.
pub fn mlp_to_pyerr(e: MlpError) -> PyErr {
    match e {
        MlpError::InvalidArgument { .. } | MlpError::TooLarge { .. } => {
            InvalidArgumentError::new_err(e.to_string())
        }
        MlpError::Cancelled => pyo3::exceptions::PyKeyboardInterrupt::new_err("cancelled"),
        MlpError::Pool(p) => pool_to_pyerr(p),
    }
}
