//! Criterion benches of the fpentropy core.
//!
//! `cargo bench -p boltzkit-core --bench fpentropy` times the exact entropy of N(0,1) in float32
//! and float64 (width classes), float16 (enumeration), the approximation, and the empirical
//! entropy of 1e7 float32 codes. `BOLTZKIT_BRUTE=1` also runs the brute-force sum over every
//! float32 cell once (≈ 2 × 2^31 cells) and prints its difference from the fast method.

use boltzkit_core::fpentropy::{
    EntropyOptions, Format, Law, LawKind, Layout, approx_entropy, brute_force_entropy,
    empirical_entropy, exact_entropy,
};
use boltzkit_core::rng::SplitMix64;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Instant;

fn exact(c: &mut Criterion) {
    let law = Law::new(LawKind::Normal, 0.0, 1.0).unwrap();
    for name in ["float64", "float32", "float16", "bfloat16", "float8_e4m3fn"] {
        let fmt = Format::by_name(name).unwrap();
        c.bench_function(&format!("exact_entropy N(0,1) {name}"), |b| {
            b.iter(|| {
                exact_entropy(black_box(&law), black_box(&fmt), &EntropyOptions::default()).unwrap()
            })
        });
    }
    let fmt = Format::by_name("bfloat16").unwrap();
    c.bench_function("approx_entropy N(0,1) bfloat16", |b| {
        b.iter(|| approx_entropy(black_box(&law), black_box(&fmt), false, None).unwrap())
    });
}

fn empirical(c: &mut Criterion) {
    let mut g = SplitMix64::new(1, 0);
    let n = 10_000_000;
    let v: Vec<u32> = (0..n)
        .map(|_| ((g.next_f64() - 0.5) as f32 * 0.02).to_bits())
        .collect();
    let lay = Layout {
        exponent_bits: 8,
        mantissa_bits: 23,
    };
    let mut group = c.benchmark_group("empirical_entropy");
    group.sample_size(10);
    group.bench_function("1e7 float32 codes", |b| {
        b.iter(|| empirical_entropy(black_box(&v), lay, None).unwrap())
    });
    group.finish();
}

fn brute(_: &mut Criterion) {
    if std::env::var("BOLTZKIT_BRUTE").is_err() {
        return;
    }
    let law = Law::new(LawKind::Normal, 0.0, 1.0).unwrap();
    let fmt = Format::by_name("float32").unwrap();
    let t = Instant::now();
    let fast = exact_entropy(&law, &fmt, &EntropyOptions::default()).unwrap();
    let t_fast = t.elapsed();
    for threads in [Some(1), None] {
        let t = Instant::now();
        let slow = brute_force_entropy(&law, &fmt, false, threads).unwrap();
        let t_slow = t.elapsed();
        println!(
            "brute force float32 N(0,1), threads={threads:?}: {:.12} in {:.2?}; width classes {:.12} in {:.2?}; \
             |difference| = {:.2e} bits; total mass {:.15}",
            slow.bits,
            t_slow,
            fast.bits,
            t_fast,
            (slow.bits - fast.bits).abs(),
            slow.total_mass
        );
        assert!((slow.bits - fast.bits).abs() < 1e-9);
    }
}

criterion_group!(benches, exact, empirical, brute);
criterion_main!(benches);
