//! Exact and structural checks of the HMC samplers (spec §7): invariance on a finite ladder built
//! from the samplers' own rate / probability functions, LAHMC(K = 1) = HMC, cache on/off, the
//! batched driver against the per-chain one, thread-count invariance and gradient counts.

use boltzkit_core::hmc::rates::{
    JumpKind, Ladder, StateSpace, ct_log_rates, ct_rates, generator_from, hmc_accept,
    jump_generator, lahmc_transition, mjhmc_log_rates, mjhmc_rates, pick_jump, pick_jump_linear,
    row_times, stationary,
};
use boltzkit_core::hmc::{AsBatch, Builtin, Config, MOVE_REFRESH, Method, Metric, Output, Sampler};
use boltzkit_core::rng::SplitMix64;

fn ladder(n: usize, seed: u64) -> Ladder {
    let mut g = SplitMix64::new(seed, 0);
    Ladder {
        energies: (0..n).map(|_| 4.0 * g.next_f64()).collect(),
    }
}

fn sup(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |a, b| a.max(b.abs()))
}

fn balance_violation(pi: &[f64], q: &[f64]) -> f64 {
    let n = pi.len();
    let mut worst: f64 = 0.0;
    for i in 0..n {
        for j in 0..n {
            worst = worst.max((pi[i] * q[i * n + j] - pi[j] * q[j * n + i]).abs());
        }
    }
    worst
}

#[test]
fn jump_samplers_leave_pi_invariant_on_the_ladder() {
    for seed in 0..5 {
        let sp = ladder(11, seed);
        let pi = stationary(&sp);
        for lambda in [0.0, 0.05, 1.3] {
            for kind in [JumpKind::Mjhmc, JumpKind::CtHmc] {
                let q = jump_generator(&sp, kind, lambda);
                let r = sup(&row_times(&pi, &q));
                assert!(r < 1e-12, "{kind:?} λ={lambda}: |πQ|∞ = {r:e}");
            }
            // ct_hmc satisfies detailed balance, mjhmc does not
            let ct = balance_violation(&pi, &jump_generator(&sp, JumpKind::CtHmc, lambda));
            assert!(ct < 1e-12, "ct_hmc detailed balance {ct:e}");
            let mj = balance_violation(&pi, &jump_generator(&sp, JumpKind::Mjhmc, lambda));
            assert!(
                mj > 1e-3,
                "mjhmc should violate detailed balance, got {mj:e}"
            );
        }
    }
}

#[test]
fn linear_rates_are_the_log_rates_and_pick_the_same_jumps() {
    // the samplers use the linear form where it cannot overflow: same rates (to rounding), same
    // jump for the same uniform, same holding time
    let mut g = SplitMix64::new(77, 1);
    let inf = f64::INFINITY;
    let mut checked = 0;
    for i in 0..20_000 {
        let h = 10.0 * g.next_f64();
        let hf = if i % 97 == 0 {
            inf
        } else {
            h + 6.0 * (g.next_f64() - 0.5)
        };
        let hb = if i % 89 == 0 {
            inf
        } else {
            h + 6.0 * (g.next_f64() - 0.5)
        };
        let lam = if i % 7 == 0 { 0.0 } else { 0.3 * g.next_f64() };
        let (e, u) = (-(1.0 - g.next_f64()).ln(), g.next_f64());
        for (lin, log) in [
            (
                mjhmc_rates(h, hf, hb, lam).unwrap(),
                mjhmc_log_rates(h, hf, hb, lam.ln()),
            ),
            (ct_rates(h, hf, lam).unwrap(), ct_log_rates(h, hf, lam.ln())),
        ] {
            let total: f64 = lin.iter().sum();
            for j in 0..3 {
                assert!(
                    (lin[j] - log[j].exp()).abs() <= 1e-14 * total,
                    "{lin:?} {log:?}"
                );
            }
            let (a, b) = (pick_jump_linear(&lin, e, u), pick_jump(&log, e, u));
            match (a, b) {
                (Some((ja, ta)), Some((jb, tb))) => {
                    // a uniform within rounding of a boundary may fall either way
                    let cum: Vec<f64> = lin
                        .iter()
                        .scan(0.0, |c, r| {
                            *c += r;
                            Some(*c / total)
                        })
                        .collect();
                    if cum.iter().all(|c| (c - u).abs() > 1e-12) {
                        assert_eq!(ja, jb);
                        checked += 1;
                    }
                    assert!((ta - tb).abs() <= 1e-13 * tb.max(1e-300));
                }
                (None, None) => {}
                other => panic!("{other:?}"),
            }
        }
    }
    assert!(checked > 35_000);
    // out of the linear range: the log form takes over
    assert!(mjhmc_rates(0.0, -2000.0, 1.0, 0.1).is_none());
    assert!(ct_rates(0.0, -2000.0, 0.1).is_none());
    // no rate at all: no jump
    assert!(pick_jump_linear(&[0.0, 0.0, 0.0], 1.0, 0.5).is_none());
}

#[test]
fn a_wrong_flip_rate_breaks_invariance() {
    // negative control: the L move of mjhmc with a constant flip rate 1 (no FL move)
    let sp = ladder(11, 7);
    let pi = stationary(&sp);
    let q = generator_from(&sp, 0.1, |s: &Ladder, z| {
        let lz = s.leap(z);
        (lz, [0.5 * (s.energy(z) - s.energy(lz)), 0.0, 0.0])
    });
    let r = sup(&row_times(&pi, &q));
    assert!(
        r > 1e-3,
        "the wrong flip rate should not be invariant: {r:e}"
    );
}

#[test]
fn discrete_samplers_leave_pi_invariant_on_the_ladder() {
    for seed in 0..5 {
        let sp = ladder(11, 100 + seed);
        let pi = stationary(&sp);
        let n = sp.n_states();
        // hmc from its own acceptance function
        let mut t = vec![0.0; n * n];
        for z in 0..n {
            let a = hmc_accept(sp.energy(z), sp.energy(sp.leap(z)));
            t[z * n + sp.leap(z)] += a;
            t[z * n + sp.flip(z)] += 1.0 - a;
        }
        let d: Vec<f64> = row_times(&pi, &t)
            .iter()
            .zip(&pi)
            .map(|(a, b)| a - b)
            .collect();
        assert!(sup(&d) < 1e-12, "hmc: {:e}", sup(&d));
        for k in [1, 2, 4, 8] {
            let t = lahmc_transition(&sp, k);
            for z in 0..n {
                let row: f64 = t[z * n..(z + 1) * n].iter().sum();
                assert!(
                    (row - 1.0).abs() < 1e-12 && t[z * n..(z + 1) * n].iter().all(|&p| p >= 0.0)
                );
            }
            let d: Vec<f64> = row_times(&pi, &t)
                .iter()
                .zip(&pi)
                .map(|(a, b)| a - b)
                .collect();
            assert!(sup(&d) < 1e-12, "lahmc K={k}: {:e}", sup(&d));
        }
    }
}

fn cfg(method: Method, eps: f64, m: usize) -> Config {
    Config {
        method,
        step_size: eps,
        n_leapfrog: m,
        beta: 0.3,
        refresh_rate: -(1.0f64 - 0.3).ln() / 2.0,
        look_ahead: 4,
        cache: true,
        thin: 1,
    }
}

fn starts(n_chains: usize, d: usize, seed: u64) -> Vec<f64> {
    let mut g = SplitMix64::new(seed, 99);
    (0..n_chains * d)
        .map(|_| 2.0 * g.next_f64() - 1.0)
        .collect()
}

fn run(c: Config, t: &Builtin, n_chains: usize, n_iter: usize, threads: Option<usize>) -> Output {
    let d = boltzkit_core::hmc::Target::dim(t);
    let mut s = Sampler::new(
        c,
        Metric::identity(d),
        &starts(n_chains, d, 5),
        n_chains,
        42,
    )
    .unwrap();
    s.init(t).unwrap();
    s.run(t, n_iter, threads).unwrap();
    s.output()
}

#[test]
fn lahmc_with_one_look_ahead_is_hmc_draw_for_draw() {
    let t = Builtin::RoughWell {
        d: 2,
        a: 100.0,
        b: 4.0,
    };
    let hmc = run(cfg(Method::Hmc, 1.0, 10), &t, 6, 400, Some(2));
    let mut c = cfg(Method::Lahmc, 1.0, 10);
    c.look_ahead = 1;
    let la = run(c, &t, 6, 400, Some(2));
    assert_eq!(hmc.x, la.x);
    assert_eq!(hmc.moves, la.moves);
    assert_eq!(hmc.grads, la.grads);
    assert!(hmc.moves.contains(&0) && hmc.moves.contains(&1));
}

#[test]
fn results_do_not_depend_on_the_thread_count_or_the_driver() {
    // d = 3: the native driver advances chains in groups (lock step); d = 12: chain by chain;
    // 11 chains: a partial last group
    for d in [3, 12] {
        let t = Builtin::gaussian_aniso(d, 2.0);
        for m in [Method::Hmc, Method::Lahmc, Method::CtHmc, Method::Mjhmc] {
            let c = cfg(m, 0.4, 5);
            let a = run(c.clone(), &t, 11, 300, Some(1));
            let b = run(c.clone(), &t, 11, 300, Some(2));
            assert_eq!(a, b, "{m:?}: threads 1 vs 2");
            let mut s = Sampler::new(c, Metric::identity(d), &starts(11, d, 5), 11, 42).unwrap();
            s.init_batched(&mut AsBatch(&t)).unwrap();
            s.run_batched(&mut AsBatch(&t), 300).unwrap();
            assert_eq!(a, s.output(), "{m:?}: batched driver, d = {d}");
        }
    }
}

#[test]
fn specialised_builtin_runs_give_the_generic_bits() {
    // run_builtin compiles the rough well and the diagonal Gaussian on their own; the draws must
    // be those of the generic run on the Builtin enum, bit for bit (warm-up included)
    // (the lane kernels: up to 16 trajectories side by side, fed from a queue; 20 chains make
    // partial blocks, 70 chains on 2 threads groups of 18 with full blocks and trajectories
    // left over from round to round; ε = 2.6 on a unit Gaussian diverges: momenta overflow
    // mid-trajectory)
    for (t, eps, n_leap, n_chains) in [
        (
            Builtin::RoughWell {
                d: 3,
                a: 10.0,
                b: 4.0,
            },
            0.4,
            5,
            20,
        ),
        (
            Builtin::RoughWell {
                d: 2,
                a: 100.0,
                b: 4.0,
            },
            1.0,
            10,
            20,
        ),
        (
            Builtin::RoughWell {
                d: 2,
                a: 100.0,
                b: 4.0,
            },
            1.0,
            10,
            70,
        ),
        (Builtin::gaussian_aniso(6, 2.0), 0.4, 5, 20),
        (Builtin::gaussian_aniso(8, 3.0), 0.4, 7, 70),
        (Builtin::gaussian_aniso(37, 3.0), 0.4, 7, 20),
        (Builtin::gaussian_aniso(2, 0.0), 2.6, 700, 20),
    ] {
        let d = boltzkit_core::hmc::Target::dim(&t);
        for m in [Method::Hmc, Method::Lahmc, Method::CtHmc, Method::Mjhmc] {
            let mut outs = Vec::new();
            for special in [false, true] {
                let mut s = Sampler::new(
                    cfg(m, eps, n_leap),
                    Metric::diag((0..d).map(|i| 1.0 + 0.1 * i as f64).collect()).unwrap(),
                    &starts(n_chains, d, 5),
                    n_chains,
                    42,
                )
                .unwrap();
                s.init(&t).unwrap();
                if eps < 2.0 {
                    s.start_warmup(boltzkit_core::hmc::WarmupPlan {
                        n_iter: 60,
                        adapt_step_size: true,
                        adapt_metric: true,
                        target_accept: 0.8,
                    })
                    .unwrap();
                }
                if special {
                    s.warmup_builtin(&t, 60, Some(2)).unwrap();
                    s.run_builtin(&t, 200, Some(2)).unwrap();
                } else {
                    s.warmup(&t, 60, Some(1)).unwrap();
                    s.run(&t, 200, Some(1)).unwrap();
                }
                outs.push(s.output());
            }
            assert_eq!(outs[0], outs[1], "{t:?} {m:?}");
            if eps > 2.0 && m == Method::Hmc {
                // every trajectory diverged: all rejected, each stopped early
                assert!(outs[0].moves.iter().all(|&mv| mv == 0));
                assert!(outs[0].grads.iter().all(|&g| g < 200 * 700));
            }
        }
    }
}

#[test]
fn mjhmc_cache_changes_cost_not_moves() {
    let t = Builtin::gaussian_aniso(3, 2.0);
    let on = run(cfg(Method::Mjhmc, 0.3, 8), &t, 4, 2000, None);
    let mut c = cfg(Method::Mjhmc, 0.3, 8);
    c.cache = false;
    let off = run(c, &t, 4, 2000, None);
    assert_eq!(on.moves, off.moves);
    let dx =
        on.x.iter()
            .zip(&off.x)
            .fold(0.0f64, |a, (p, q)| a.max((p - q).abs()));
    // floating-point leapfrog is reversible only up to round-off, so the cached L⁻¹(Lz) = z and
    // the recomputed one differ in the last bits
    assert!(dx < 1e-9, "{dx:e}");
    // exact costs: with the cache, M per L jump, 0 per flip, 2M per refresh (+ 2M at the start);
    // without, 2M per jump (+ 2M at the start)
    for c in 0..4 {
        let mv = &on.moves[c * 2000..(c + 1) * 2000];
        let n_l = mv.iter().filter(|&&m| m == 1).count() as u64;
        let n_r = mv.iter().filter(|&&m| m == MOVE_REFRESH).count() as u64;
        let n_f = mv.iter().filter(|&&m| m == 0).count() as u64;
        assert!(n_f > 0 && n_r > 0 && n_l > 0);
        // the last jump's follow-up trajectories are computed at the start of the next iteration
        let last = *mv.last().unwrap();
        let pending = match last {
            1 => 8,
            0 => 0,
            _ => 16,
        };
        assert_eq!(on.grads[c], 16 + 8 * n_l + 16 * n_r - pending, "chain {c}");
        assert_eq!(off.grads[c], 16 * 2000, "chain {c}");
    }
}

#[test]
fn hmc_and_lahmc_gradient_counts_are_exact() {
    let t = Builtin::gaussian_aniso(2, 1.0);
    let o = run(cfg(Method::Hmc, 0.5, 7), &t, 3, 100, None);
    assert!(o.grads.iter().all(|&g| g == 700));
    let o = run(cfg(Method::Lahmc, 1.2, 7), &t, 3, 500, None);
    for c in 0..3 {
        let expect: u64 = o.moves[c * 500..(c + 1) * 500]
            .iter()
            .map(|&m| 7 * if m == 0 { 4 } else { m as u64 })
            .sum();
        assert_eq!(o.grads[c], expect);
    }
    assert!(o.moves.iter().any(|&m| m >= 2), "look-ahead moves expected");
}

#[test]
fn divergent_trajectories_are_rejected_not_fatal() {
    // a step size far past the stability limit: energies overflow to inf, every proposal is
    // rejected (hmc flips, mjhmc flips or refreshes) and nothing panics
    let t = Builtin::Funnel { d: 4, sigma: 3.0 };
    for m in [Method::Hmc, Method::Lahmc, Method::CtHmc, Method::Mjhmc] {
        let o = run(cfg(m, 50.0, 20), &t, 2, 50, None);
        assert!(o.x.iter().all(|v| v.is_finite()));
        assert!(o.energy.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn records_hold_each_state_with_its_energy_holding_time_and_acceptance() {
    // the records are kept as one interleaved row per record and split by `output`: every row
    // must come back whole (x with its own energy), for every sampler, thinned or not, and on
    // the lane driver (rough well, d = 2) and the per-chain one (Gaussian, d = 12)
    let targets = [
        Builtin::RoughWell {
            d: 2,
            a: 10.0,
            b: 4.0,
        },
        Builtin::gaussian_aniso(12, 2.0),
    ];
    for t in &targets {
        let d = boltzkit_core::hmc::Target::dim(t);
        for m in [Method::Hmc, Method::Lahmc, Method::CtHmc, Method::Mjhmc] {
            let mut c = cfg(m, 0.3, 5);
            if !m.is_jump() {
                c.thin = 3;
            }
            let o = run(c, t, 21, 60, Some(2));
            let n = o.n_chains * o.n_records;
            assert_eq!(o.n_records, if m.is_jump() { 60 } else { 20 });
            assert_eq!((o.x.len(), o.moves.len()), (n * d, n));
            assert_eq!((o.accept.len(), o.energy.len()), (n, n));
            assert_eq!(o.tau.len(), if m.is_jump() { n } else { 0 });
            let mut g = vec![0.0; d];
            for i in 0..n {
                let e =
                    boltzkit_core::hmc::Target::energy_grad(t, &o.x[i * d..(i + 1) * d], &mut g);
                assert_eq!(e.to_bits(), o.energy[i].to_bits(), "{m:?} record {i}");
                assert!((0.0..=1.0).contains(&o.accept[i]), "{m:?} {}", o.accept[i]);
                if m.is_jump() {
                    assert!(o.tau[i] > 0.0 && o.tau[i].is_finite(), "{m:?} {}", o.tau[i]);
                }
            }
        }
    }
}
