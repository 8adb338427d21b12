//! Thread-pool control.
//!
//! Every parallel entry point of the core takes `threads: Option<usize>`. `None` runs on a pool
//! of the default size (`RAYON_NUM_THREADS` or the number of cores); `Some(n)` runs the work
//! inside a dedicated pool of `n` threads. Pools are built once per thread count and cached, so
//! repeated calls do not pay the start-up cost. The global pool is never configured here.
//!
//! Results never depend on the thread count: work is split by logical item (cell, chain, sample
//! block), and reductions are done sequentially in item order after the parallel map.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Error raised when a thread pool cannot be created or the requested size is invalid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PoolError {
    /// `threads` was zero or absurdly large.
    #[error("threads must be between 1 and {max}, got {got}")]
    BadThreadCount {
        /// The requested count.
        got: usize,
        /// The largest accepted count.
        max: usize,
    },
    /// The operating system refused to create the threads.
    #[error("could not build a thread pool with {threads} threads: {msg}")]
    Build {
        /// The requested count.
        threads: usize,
        /// The message of rayon's error.
        msg: String,
    },
}

/// Largest thread count accepted by [`with_threads`].
pub const MAX_THREADS: usize = 1024;

type PoolMap = HashMap<(u32, usize), Arc<rayon::ThreadPool>>;

fn pools() -> &'static Mutex<PoolMap> {
    static POOLS: OnceLock<Mutex<PoolMap>> = OnceLock::new();
    POOLS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Returns the cached pool of `n` threads, building it on first use.
///
/// Pools are cached per process id: after `fork()` (Python's `multiprocessing` default on
/// Linux) the child inherits the parent's pools but not their threads, so a job sent to one would
/// wait forever. A child builds its own; the parent's entries are kept, never dropped (dropping
/// would signal threads that do not exist in the child).
fn pool(n: usize) -> Result<Arc<rayon::ThreadPool>, PoolError> {
    if n == 0 || n > MAX_THREADS {
        return Err(PoolError::BadThreadCount {
            got: n,
            max: MAX_THREADS,
        });
    }
    // A poisoned lock only means another thread panicked while inserting; the map is still usable.
    let mut map = pools().lock().unwrap_or_else(|e| e.into_inner());
    let key = (std::process::id(), n);
    if let Some(p) = map.get(&key) {
        return Ok(Arc::clone(p));
    }
    let p = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(move |i| format!("boltzkit-{n}-{i}"))
        .build()
        .map_err(|e| PoolError::Build {
            threads: n,
            msg: e.to_string(),
        })?;
    let p = Arc::new(p);
    map.insert(key, Arc::clone(&p));
    Ok(p)
}

/// Runs `f` on the global rayon pool (`threads = None`) or on a pool of exactly `n` threads.
///
/// # Errors
/// [`PoolError::BadThreadCount`] if `n == 0` or `n > MAX_THREADS`; [`PoolError::Build`] if the
/// threads cannot be spawned.
pub fn with_threads<T: Send>(
    threads: Option<usize>,
    f: impl FnOnce() -> T + Send,
) -> Result<T, PoolError> {
    // `None` runs on a cached pool of the default size rather than rayon's global pool: the
    // global pool cannot be rebuilt in a forked child, where its threads do not exist
    let n = match threads {
        None => default_threads(),
        Some(n) => n,
    };
    Ok(pool(n)?.install(f))
}

/// The cached pool [`with_threads`] runs `threads` on, for callers that hand it work directly.
///
/// # Errors
/// As [`with_threads`].
pub fn pool_for(threads: Option<usize>) -> Result<Arc<rayon::ThreadPool>, PoolError> {
    pool(threads.unwrap_or_else(default_threads))
}

/// Threads used for `threads = None`: `RAYON_NUM_THREADS` when set to a positive count, else the
/// number of logical cores (what rayon's global pool would use).
pub fn default_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(cores)
        .min(MAX_THREADS)
}

/// The number of logical cores this process may use, read once (`available_parallelism` reads
/// cgroup files: tens of µs, which was a noticeable part of a small call).
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
}

/// Number of threads the work of a call with `threads` would use.
pub fn effective_threads(threads: Option<usize>) -> usize {
    threads.unwrap_or_else(rayon::current_num_threads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_pool_has_requested_size() {
        let n = with_threads(Some(3), rayon::current_num_threads).unwrap();
        assert_eq!(n, 3);
        let n = with_threads(Some(1), rayon::current_num_threads).unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn bad_counts_are_errors() {
        assert!(matches!(
            with_threads(Some(0), || ()),
            Err(PoolError::BadThreadCount { got: 0, .. })
        ));
        assert!(with_threads(Some(MAX_THREADS + 1), || ()).is_err());
    }
}
