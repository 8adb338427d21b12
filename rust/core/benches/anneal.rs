//! Criterion benches of simulated annealing on the issue-18.3 models, one thread, 8 reads in one
//! lockstep block: a random 3-regular ±1 graph (N = 10⁴), a periodic 2-D ±J lattice 100 × 100 and
//! the spin map of an MLP 784-256-256-10 (dense storage, as `from_bqm` picks for it), each with a
//! geometric schedule over dwave-samplers' default β range.
//!
//! `cargo bench -p boltzkit-core --bench anneal` (sweeps per run: `ANNEAL_BENCH_SWEEPS`, default
//! 100; `ANNEAL_BENCH_CASES`: a substring of the names of the cases to build and run).

use boltzkit_core::rng::SplitMix64;
use boltzkit_core::spin::{AnnealOptions, Couplings, Dense, Sparse, anneal};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

/// Symmetric CSR of the edge list (both directions, sorted columns).
fn csr(n: usize, edges: &[(usize, usize, f64)]) -> (Vec<usize>, Vec<usize>, Vec<f64>) {
    let mut rows: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
    for &(a, b, v) in edges {
        rows[a].push((b, v));
        rows[b].push((a, v));
    }
    let (mut indptr, mut indices, mut data) = (vec![0], Vec::new(), Vec::new());
    for r in &mut rows {
        r.sort_by_key(|e| e.0);
        for &(c, v) in r.iter() {
            indices.push(c);
            data.push(v);
        }
        indptr.push(indices.len());
    }
    (indptr, indices, data)
}

fn sign(g: &mut SplitMix64) -> f64 {
    if g.next_u64() & 1 == 1 { 1.0 } else { -1.0 }
}

/// Union of three random perfect matchings without repeated edges, ±1 couplings.
fn regular3(n: usize, seed: u64) -> Vec<(usize, usize, f64)> {
    let mut g = SplitMix64::new(seed, 0);
    loop {
        let mut seen = std::collections::HashSet::new();
        let mut edges = Vec::new();
        for _ in 0..3 {
            let mut p: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                p.swap(i, (g.next_u64() % (i as u64 + 1)) as usize);
            }
            for c in p.chunks(2) {
                edges.push((c[0].min(c[1]), c[0].max(c[1])));
            }
        }
        if edges.iter().all(|e| seen.insert(*e)) {
            return edges
                .into_iter()
                .map(|(a, b)| (a, b, sign(&mut g)))
                .collect();
        }
    }
}

/// Periodic `side × side` lattice, ±1 couplings.
fn lattice(side: usize, seed: u64) -> Vec<(usize, usize, f64)> {
    let mut g = SplitMix64::new(seed, 0);
    let mut edges = Vec::new();
    for r in 0..side {
        for c in 0..side {
            let i = r * side + c;
            edges.push((i, r * side + (c + 1) % side, sign(&mut g)));
            edges.push((i, ((r + 1) % side) * side + c, sign(&mut g)));
        }
    }
    edges
}

/// Dense couplings of the MLP spin map: `W_l ~ N(0, 1/fan_in)` between consecutive layers.
fn mlp_dense(widths: &[usize], seed: u64) -> Vec<f64> {
    let mut g = SplitMix64::new(seed, 0);
    let n: usize = widths.iter().sum();
    let mut j = vec![0.0; n * n];
    let mut off = 0;
    for l in 0..widths.len() - 1 {
        let (a, b) = (off, off + widths[l]);
        for r in 0..widths[l + 1] {
            for c in 0..widths[l] {
                // Box–Muller
                let (u, v) = (1.0 - g.next_f64(), g.next_f64());
                let x = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
                let w = x / (widths[l] as f64).sqrt();
                j[(b + r) * n + a + c] = w;
                j[(a + c) * n + b + r] = w;
            }
        }
        off = b;
    }
    j
}

/// dwave-samplers' default β range: hot `ln 2 / (2 max_i Σ_j |J_ij|)`, cold `ln(k / 0.01) / (2 b_min)`.
fn beta_range<C: Couplings>(m: &C, rows: impl Fn(usize) -> Vec<f64>) -> (f64, f64) {
    let n = m.n();
    let mut amax = 0.0f64;
    let mut mins = Vec::with_capacity(n);
    for i in 0..n {
        amax = amax.max(m.abs_row_sum(i));
        let r = rows(i);
        mins.push(
            r.iter()
                .filter(|v| **v != 0.0)
                .fold(f64::INFINITY, |a, v| a.min(v.abs())),
        );
    }
    let bmin = mins.iter().cloned().fold(f64::INFINITY, f64::min);
    let k = mins.iter().filter(|&&v| v == bmin).count() as f64;
    (
        std::f64::consts::LN_2 / (2.0 * amax),
        (k / 0.01).ln() / (2.0 * bmin),
    )
}

fn geometric(lo: f64, hi: f64, k: usize) -> Vec<f64> {
    (0..k)
        .map(|t| lo * (hi / lo).powf(t as f64 / (k - 1) as f64))
        .collect()
}

fn run<C: Couplings>(c: &mut Criterion, name: &str, m: &C, betas: &[f64]) {
    if !std::env::var("ANNEAL_BENCH_CASES").map_or(true, |f| name.contains(&f)) {
        return;
    }
    let o = AnnealOptions {
        betas,
        num_reads: 8,
        seed: 1,
        threads: Some(1),
        ..Default::default()
    };
    let r = anneal(m, &o).expect("anneal");
    let e: f64 = r.best_energies.iter().sum::<f64>() / (8 * m.n()) as f64;
    println!(
        "{name}: mean best e/N = {e:.6}, accepted = {:?}",
        r.accepted
    );
    c.bench_function(name, |b| {
        b.iter(|| black_box(anneal(m, &o).expect("anneal")))
    });
}

fn bench_anneal(c: &mut Criterion) {
    let sweeps: usize = std::env::var("ANNEAL_BENCH_SWEEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let zero = vec![0.0; 10_000];
    for (name, edges) in [
        ("regular3_n10000", regular3(10_000, 2)),
        ("pmj_lattice_100x100", lattice(100, 3)),
    ] {
        let (indptr, indices, data) = csr(10_000, &edges);
        let m = Sparse::new(&indptr, &indices, &data, &zero).expect("csr");
        let (lo, hi) = beta_range(&m, |i| data[indptr[i]..indptr[i + 1]].to_vec());
        run(c, name, &m, &geometric(lo, hi, sweeps));
    }
    let widths = [784, 256, 256, 10];
    let n: usize = widths.iter().sum();
    let j = mlp_dense(&widths, 4);
    let h = vec![0.0; n];
    let m = Dense::new(&j, &h).expect("dense");
    let (lo, hi) = beta_range(&m, |i| m.row(i).to_vec());
    run(
        c,
        "mlp_map_784_256_256_10_dense",
        &m,
        &geometric(lo, hi, sweeps),
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench_anneal
}
criterion_main!(benches);
