//! Criterion benches of the kprop engines (one thread: `RAYON_NUM_THREADS=1` compares with the
//! reference's single-threaded timings).
//!
//! `cargo bench -p boltzkit-core --bench mlp_kprop` times, on ReLU nets `[n] * 5` (4 linear
//! layers) with unit-variance inputs: K = 3 SIMPLE (factored third cumulant), K = 3 AUGMENT
//! factored and dense, K = 3 SIMPLE on the dense row engine (the cross-check path), and K = 4
//! SIMPLE factored and dense (the cross-check path), at n = 32 and 64. `-- "K4 simple \(factored"`
//! runs one engine.

use boltzkit_core::mlp::kprop4::{kprop3_factored, kprop3_rows, kprop4, kprop4_factored};
use boltzkit_core::mlp::{Cancel, Estimate, Input, Net};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

/// A ReLU net `[n] * 5` with He-scaled uniform weights from a fixed linear congruential stream.
fn net(n: usize) -> Net<'static> {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 2.0
    };
    let shapes = vec![(n, n); 4];
    let weights: Vec<Vec<f64>> = shapes
        .iter()
        .map(|&(r, c)| {
            (0..r * c)
                .map(|_| next() * (6.0 / c as f64).sqrt())
                .collect()
        })
        .collect();
    let biases: Vec<Vec<f64>> = shapes.iter().map(|&(r, _)| vec![0.0; r]).collect();
    Net::new(&shapes, weights, biases, &vec!["relu".to_string(); 3]).unwrap()
}

/// One kprop engine on `(net, input)`.
type Engine = fn(&Net, &Input) -> Estimate;

fn kprop(c: &mut Criterion) {
    let engines: [(&str, Engine); 6] = [
        ("K3 simple (factored)", |n, i| {
            kprop3_factored(n, i, None, false, false, Cancel(None)).unwrap()
        }),
        ("K3 augment factor (factored)", |n, i| {
            kprop3_factored(n, i, None, false, true, Cancel(None)).unwrap()
        }),
        ("K3 augment (dense)", |n, i| {
            kprop3_rows(n, i, None, false, true, false, Cancel(None)).unwrap()
        }),
        ("K3 simple (dense cross-check)", |n, i| {
            kprop3_rows(n, i, None, false, false, false, Cancel(None)).unwrap()
        }),
        ("K4 simple (factored)", |n, i| {
            kprop4_factored(n, i, None, false, Cancel(None)).unwrap()
        }),
        ("K4 simple (dense cross-check)", |n, i| {
            kprop4(n, i, None, false, false, false, Cancel(None)).unwrap()
        }),
    ];
    let mut g = c.benchmark_group("kprop relu [n]*5");
    g.sample_size(20);
    for n in [32usize, 64] {
        let nt = net(n);
        let inp = Input::new(n, vec![0.0; n], vec![1.0; n], false).unwrap();
        for (name, run) in engines {
            g.bench_function(format!("{name} n={n}"), |b| {
                b.iter(|| run(black_box(&nt), &inp))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, kprop);
criterion_main!(benches);
