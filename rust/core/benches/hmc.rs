//! Criterion benches of the HMC core: one leapfrog step and whole sampler iterations.
//!
//! `cargo bench -p boltzkit-core --bench hmc`

use boltzkit_core::hmc::{
    Builtin, Config, DiagGaussian, Method, Metric, Phase, Sampler, Target, leapfrog,
};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn bench_leapfrog(c: &mut Criterion) {
    for d in [2usize, 100] {
        let t = Builtin::gaussian_aniso(d, 6.0);
        let metric = Metric::identity(d);
        let mut z = Phase::zeros(d);
        z.x.iter_mut()
            .enumerate()
            .for_each(|(i, x)| *x = 0.1 * i as f64);
        z.e = t.energy_grad(&z.x, &mut z.g);
        let mut v = vec![0.0; d];
        c.bench_function(&format!("leapfrog_10_steps_gaussian_d{d}"), |b| {
            b.iter(|| {
                let mut w = z.clone();
                black_box(leapfrog(&t, &metric, 0.01, 10, &mut w, &mut v));
                black_box(w.e)
            })
        });
        // the same target as its own type (what `Sampler::run_builtin` compiles for)
        let Builtin::GaussianDiag { c: prec } = &t else {
            unreachable!()
        };
        let dg = DiagGaussian { c: prec };
        let mut w = z.clone();
        c.bench_function(&format!("leapfrog_10_steps_diag_gaussian_type_d{d}"), |b| {
            b.iter(|| {
                w.x.copy_from_slice(&z.x);
                w.p.copy_from_slice(&z.p);
                w.g.copy_from_slice(&z.g);
                black_box(leapfrog(&dg, &metric, 0.01, 10, &mut w, &mut v));
                black_box(w.e)
            })
        });
    }
}

fn bench_samplers(c: &mut Criterion) {
    for d in [2usize, 100] {
        let t = Builtin::gaussian_aniso(d, 6.0);
        for method in [Method::Hmc, Method::Lahmc, Method::Mjhmc] {
            let cfg = Config {
                method,
                step_size: 1.0,
                n_leapfrog: 10,
                beta: 0.1,
                refresh_rate: -(0.9f64).ln() / 2.0,
                look_ahead: 4,
                cache: true,
                thin: 1,
            };
            c.bench_function(
                &format!("{method:?}_100_chains_x_20_iterations_d{d}"),
                |b| {
                    b.iter_with_setup(
                        || {
                            let mut s = Sampler::new(
                                cfg.clone(),
                                Metric::identity(d),
                                &vec![0.5; 100 * d],
                                100,
                                1,
                            )
                            .unwrap();
                            s.init(&t).unwrap();
                            s
                        },
                        |mut s| {
                            s.run(&t, 20, Some(1)).unwrap();
                            black_box(s.output().grads)
                        },
                    )
                },
            );
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(2));
    targets = bench_leapfrog, bench_samplers
}
criterion_main!(benches);
