//! Running core work with the GIL released while Python signals (Ctrl-C) stay live.

use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Runs `f(flag)` on a scoped worker thread with the GIL released. The calling thread polls
/// `check_signals` (backing off from 100 µs to 50 ms); on a signal it sets `flag`, which the core
/// polls to stop early, and the signal's exception (KeyboardInterrupt) wins over the result.
/// A panic in `f` is resumed on the calling thread (pyo3 turns it into `PanicException`).
pub(crate) fn run_with_signals<R: Send>(
    py: Python<'_>,
    f: impl FnOnce(&AtomicBool) -> R + Send,
) -> PyResult<R> {
    let flag = AtomicBool::new(false);
    let mut signal: Option<PyErr> = None;
    let out = py.detach(|| {
        std::thread::scope(|sc| {
            let h = sc.spawn(|| f(&flag));
            let mut wait = Duration::from_micros(100);
            while !h.is_finished() {
                std::thread::park_timeout(wait);
                wait = (wait * 2).min(Duration::from_millis(50));
                if signal.is_none()
                    && let Err(e) = Python::attach(|py| py.check_signals())
                {
                    signal = Some(e);
                    flag.store(true, Ordering::Relaxed);
                }
            }
            h.join()
        })
    });
    let out = match out {
        Ok(r) => r,
        Err(p) => std::panic::resume_unwind(p),
    };
    match signal {
        Some(e) => Err(e),
        None => Ok(out),
    }
}
