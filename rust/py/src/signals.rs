//! Running core work with the GIL released while Python signals (Ctrl-C) stay live and a
//! progress callback is fed.

use boltzkit_core::control::Control;
use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often the progress callback is called at most.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// How long the calling thread waits on the result yielding before it parks (only when the pool
/// leaves a core free; see [`poll`]).
const SPIN_FOR: Duration = Duration::from_micros(200);

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
    run_controlled_on(py, None, progress, f)
}

/// [`run_controlled`], with `f` started as a job of `pool` instead of on a thread of its own (one
/// thread handoff less per call: the core's `with_threads` on the same pool then runs inline).
/// Falls back to a thread of its own when the caller is itself a rayon worker (a job queued behind
/// the caller's could wait for it forever).
pub(crate) fn run_controlled_on<R: Send>(
    py: Python<'_>,
    pool: Option<&rayon::ThreadPool>,
    progress: Option<&Py<PyAny>>,
    f: impl FnOnce(&Control) -> R + Send,
) -> PyResult<R> {
    let control = Control::new();
    let mut signal: Option<PyErr> = None;
    let done = AtomicBool::new(false);
    let pool = pool.filter(|_| rayon::current_thread_index().is_none());
    let spin = pool.is_some_and(|p| p.current_num_threads() < boltzkit_core::parallel::cores());
    let out = py.detach(|| {
        // The worker wakes the calling thread when it ends (normally or by a panic), so the
        // result is returned at once rather than at the next poll (up to 50 ms later).
        let caller = std::thread::current();
        let job = || {
            let _wake = Wake(&done, caller);
            f(&control)
        };
        match pool {
            Some(p) => {
                let mut res: Option<std::thread::Result<R>> = None;
                p.in_place_scope(|sc| {
                    let slot = &mut res;
                    sc.spawn(move |_| {
                        *slot = Some(std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)));
                    });
                    poll(spin, &done, &control, progress, &mut signal);
                });
                res.expect("the scope waits for its job")
            }
            None => std::thread::scope(|sc| {
                let h = sc.spawn(job);
                poll(false, &done, &control, progress, &mut signal);
                h.join()
            }),
        }
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

/// The calling thread's side of [`run_controlled_on`]: until `done`, yield (`spin`: up to
/// [`SPIN_FOR`]), then park (backing off), check signals, feed `progress`; the first exception is kept in `signal` and stops the work.
fn poll(
    spin: bool,
    done: &AtomicBool,
    control: &Control,
    progress: Option<&Py<PyAny>>,
    signal: &mut Option<PyErr>,
) {
    let mut wait = Duration::from_micros(100);
    let mut shown = (0u64, 0u64);
    let mut last = Instant::now();
    // a short call (most `mlp` estimates at small widths) ends within microseconds: with a core
    // the pool leaves free, wait on it yielding (not parked) for up to SPIN_FOR, so its end is
    // seen without a futex wake-up of this thread (K = 1 at n = 16 on one thread: ≈ 60 → 15 µs a
    // call). Yielding, not spinning: the woken worker is often queued on this thread's core. With
    // no core free, even a yielding wait slows the workers (K = 2 augment at n = 256 on two
    // threads: 5.3 → 7.7 ms), so the thread parks at once as before.
    while spin && !done.load(Ordering::Acquire) && last.elapsed() < SPIN_FOR {
        std::thread::yield_now();
    }
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
            *signal = Some(e);
            control.request_stop();
        }
    }
}
