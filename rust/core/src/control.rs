//! Cancellation and progress shared between a long computation and whoever watches it (the
//! Python bindings poll it to answer Ctrl-C and to draw a progress bar).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A stop flag the computation polls, and a work counter it advances.
///
/// `total` is the number of work units the computation expects (0: not known); `done` only
/// grows. Both are relaxed atomics: they never influence results, only what a watcher shows.
#[derive(Debug, Default)]
pub struct Control {
    stop: AtomicBool,
    done: AtomicU64,
    total: AtomicU64,
}

impl Control {
    /// A control with no stop requested and no progress.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the computation to stop at its next check.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Whether a stop was requested.
    #[inline]
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The stop flag itself (for code that polls a bare `AtomicBool`).
    pub fn flag(&self) -> &AtomicBool {
        &self.stop
    }

    /// Sets the number of work units expected.
    pub fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }

    /// Adds to the total (for work whose size is found as it goes).
    pub fn add_total(&self, n: u64) {
        self.total.fetch_add(n, Ordering::Relaxed);
    }

    /// Records `n` more units done.
    #[inline]
    pub fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// `(done, total)`.
    pub fn progress(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_stops() {
        let c = Control::new();
        assert_eq!(c.progress(), (0, 0));
        c.set_total(10);
        c.advance(3);
        c.advance(4);
        c.add_total(5);
        assert_eq!(c.progress(), (7, 15));
        assert!(!c.stop_requested());
        c.request_stop();
        assert!(c.stop_requested() && c.flag().load(Ordering::Relaxed));
    }
}
