//! Running core work with the GIL released while Python signals (Ctrl-C) stay live and a
//! progress callback is fed.

use boltzkit_core::control::Control;
use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often the progress callback is called at most.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// Sets its flag and unparks its thread when dropped.
struct Wake<'a>(&'a AtomicBool, std::thread::Thread);

impl Drop for Wake<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
        self.1.unpark();
    }
}

/// Runs `f(flag)` on a scoped worker thread with the GIL released (see [`run_controlled`]).
pub(crate) fn run_with_signals<R: Send>(
    py: Python<'_>,
    f: impl FnOnce(&AtomicBool) -> R + Send,
) -> PyResult<R> {
    run_controlled(py, None, |c| f(c.flag()))
}

/// Runs `f(control)` on a scoped worker thread with the GIL released. The calling thread polls
/// `check_signals` (backing off from 100 µs to 50 ms); on a signal it requests a stop, which the
/// core polls to stop early, and the signal's exception (KeyboardInterrupt) wins over the result.
/// With `progress`, the calling thread calls `progress(done, total)` at most every 100 ms while
/// the count moves; an exception it raises stops the work and is returned like a signal's.
/// A panic in `f` is resumed on the calling thread (pyo3 turns it into `PanicException`).
pub(crate) fn run_controlled<R: Send>(
    py: Python<'_>,
    progress: Option<&Py<PyAny>>,
    f: impl FnOnce(&Control) -> R + Send,
) -> PyResult<R> {
    let control = Control::new();
    let mut signal: Option<PyErr> = None;
    let done = AtomicBool::new(false);
    let out = py.detach(|| {
        std::thread::scope(|sc| {
            // The worker wakes the calling thread when it ends (normally or by a panic), so the
            // result is returned at once rather than at the next poll (up to 50 ms later).
            let caller = std::thread::current();
            let h = sc.spawn(|| {
                let _wake = Wake(&done, caller);
                f(&control)
            });
            let mut wait = Duration::from_micros(100);
            let mut shown = (0u64, 0u64);
            let mut last = Instant::now();
            while !done.load(Ordering::Acquire) {
                std::thread::park_timeout(wait);
                wait = (wait * 2).min(Duration::from_millis(50));
                if signal.is_some() {
                    continue;
                }
                let now = control.progress();
                let report = progress.is_some() && now != shown && last.elapsed() >= PROGRESS_EVERY;
                let r = Python::attach(|py| {
                    py.check_signals()?;
                    match progress {
                        Some(cb) if report => cb.call1(py, now).map(|_| ()),
                        _ => Ok(()),
                    }
                });
                if report {
                    shown = now;
                    last = Instant::now();
                }
                if let Err(e) = r {
                    signal = Some(e);
                    control.request_stop();
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
