//! # boltzkit-core
//!
//! The pure-Rust core of boltzkit. Every algorithm lives here; the crate knows nothing about
//! Python. Inputs are slices and plain structs, outputs are `Result<T, E>` with one error type
//! per module ([`fpentropy::FpError`], …). Parallel work runs on rayon, either on the global pool
//! or on a pool with an explicit thread count ([`parallel::with_threads`]); every reduction is
//! done in a fixed order so results do not depend on the number of threads.
//!
//! Modules:
//! - [`fpentropy`]: entropy of random variables quantized to binary floating-point formats.
//! - [`spin`]: Ising spin models: exact enumeration, annealing, tempering, TAP, MPF fitting.
//! - [`mlp`]: expected outputs and tail probabilities of wide random MLPs by moment propagation.
//! - [`rng`]: seeded, per-stream random number generation (stream derivation shared by all modules).
//! - [`parallel`]: thread-pool control.
//! - [`control`]: cancellation and progress counters polled by long computations.
//! - [`numeric`]: compensated summation and Gauss–Legendre rules shared by all modules.
//! - [`mem`]: large buffers on transparent huge pages.

pub mod control;
pub mod fpentropy;
pub mod hmc;
pub mod mem;
pub mod mlp;
pub mod numeric;
pub mod parallel;
pub mod rng;
pub mod spin;

/// Version of the core crate (same as the Python package).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
