//! kprop `K = 3` through the general diagram sum (`mlp::kprop3`): its SIMPLE kind equals the
//! hand-written K = 3 SIMPLE (`Method::KProp3Simple`), AUGMENT runs through `estimate`.
#![allow(clippy::needless_range_loop)]

use boltzkit_core::mlp::{
    Cancel, Estimate, EstimateOptions, Input, Method, estimate, kprop3::kprop3,
};

mod common;
use common::{Lcg, net};

fn input(n0: usize, seed: u64) -> Input {
    let mut r = Lcg(seed);
    let mean: Vec<f64> = (0..n0).map(|_| 0.5 * r.next()).collect();
    let var: Vec<f64> = (0..n0).map(|_| 0.6 + 0.5 * r.next()).collect();
    Input::new(n0, mean, var, false).unwrap()
}

fn max_rel(a: &[f64], b: &[f64]) -> f64 {
    let scale = a.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-300);
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / scale)
        .fold(0.0, f64::max)
}

/// Every layer of `a` and `b` equal: means, variances and covariances to 1e-12 relative, the
/// pre-activation third cumulants to 1e-11 where both keep them (`k3_both`: kept by both sides
/// or by neither).
fn assert_same_layers(a: &Estimate, b: &Estimate, k3_both: bool, ctx: &str) {
    assert_eq!(a.layers.len(), b.layers.len(), "{ctx}");
    for (la, lb) in a.layers.iter().zip(&b.layers) {
        for (x, y) in [
            (&la.pre_mean, &lb.pre_mean),
            (&la.pre_var, &lb.pre_var),
            (&la.post_mean, &lb.post_mean),
            (&la.post_var, &lb.post_var),
            (la.pre_cov.as_ref().unwrap(), lb.pre_cov.as_ref().unwrap()),
        ] {
            assert!(max_rel(x, y) < 1e-12, "{ctx}: {x:?} vs {y:?}");
        }
        match (&la.pre_kappa3, &lb.pre_kappa3) {
            (Some(x), Some(y)) => assert!(max_rel(x, y) < 1e-11, "{ctx}: {x:?} vs {y:?}"),
            (None, None) => {}
            _ => assert!(!k3_both, "{ctx}: pre_kappa3 kept by one side only"),
        }
    }
}

#[test]
fn simple_kind_of_the_general_sum_equals_kprop3_simple() {
    for (seed, (widths, act, bias)) in [
        (vec![5, 7, 6, 4], "relu", true),
        (vec![4, 6, 8, 5, 3], "tanh", false),
        (vec![6, 5, 7, 4, 2], "gelu", true),
    ]
    .into_iter()
    .enumerate()
    {
        let n = net(&widths, act, bias, 11 + seed as u64);
        let inp = input(widths[0], 5 + seed as u64);
        for scale in [None, Some(vec![1.7; widths.len() - 1])] {
            let opts = EstimateOptions {
                method: Method::KProp3Simple,
                mehler_order: 1,
                keep_cov: true,
                init_scale: scale.clone(),
            };
            let a = estimate(&n, &inp, &opts, Cancel(None)).unwrap();
            let b = kprop3(&n, &inp, scale.as_deref(), true, false, false, Cancel(None)).unwrap();
            assert_same_layers(&a, &b, false, &format!("{act} {scale:?}"));
        }
    }
}

#[test]
fn augment_runs_through_estimate_and_differs_from_simple() {
    let n = net(&[6, 8, 8, 3], "relu", true, 3);
    let inp = input(6, 4);
    let run = |m| {
        let opts = EstimateOptions {
            method: m,
            mehler_order: 1,
            keep_cov: false,
            init_scale: None,
        };
        estimate(&n, &inp, &opts, Cancel(None)).unwrap()
    };
    let (a, s) = (run(Method::KProp3Augment), run(Method::KProp3Simple));
    let (ya, ys) = (&a.layers[2].pre_mean, &s.layers[2].pre_mean);
    assert!(ya.iter().all(|x| x.is_finite()));
    assert!(
        max_rel(ya, ys) > 1e-8 && max_rel(ya, ys) < 0.2,
        "{ya:?} {ys:?}"
    );
    assert!(a.flops() > s.flops());
}

#[test]
fn row_engine_equals_the_diagram_by_diagram_sum() {
    // kprop4::kprop3_rows (grouped rows, Leonov–Shiryaev by set partitions, cached plans) against
    // kprop3::kprop3 (every diagram on every entry): SIMPLE, AUGMENT and factored AUGMENT
    use boltzkit_core::mlp::kprop4::kprop3_rows;
    for (seed, (widths, act, bias)) in [
        (vec![5, 7, 6, 4], "relu", true),
        (vec![4, 6, 8, 5, 3], "tanh", false),
        (vec![6, 5, 7, 9, 2], "gelu", true),
    ]
    .into_iter()
    .enumerate()
    {
        let n = net(&widths, act, bias, 21 + seed as u64);
        let inp = input(widths[0], 7 + seed as u64);
        for scale in [None, Some(vec![1.7; widths.len() - 1])] {
            for (augment, factor) in [(false, false), (true, false), (true, true)] {
                let a = kprop3_rows(
                    &n,
                    &inp,
                    scale.as_deref(),
                    true,
                    augment,
                    factor,
                    Cancel(None),
                )
                .unwrap();
                let b = kprop3(
                    &n,
                    &inp,
                    scale.as_deref(),
                    true,
                    augment,
                    factor,
                    Cancel(None),
                )
                .unwrap();
                assert_same_layers(
                    &a,
                    &b,
                    false,
                    &format!("{act} {scale:?} {augment} {factor}"),
                );
            }
        }
    }
}

#[test]
fn factored_third_cumulant_equals_the_dense_one() {
    // kprop4::kprop3_factored (T in CP form, O(n³) per layer) against kprop4::kprop3_rows (the
    // dense n³ tensor): SIMPLE (every term either way) and factored AUGMENT, both metrics
    use boltzkit_core::mlp::kprop4::{kprop3_factored, kprop3_rows};
    for (seed, (widths, act, bias)) in [
        (vec![5, 7, 6, 4], "relu", true),
        (vec![4, 6, 8, 5, 3], "tanh", false),
        (vec![6, 5, 7, 9, 2], "gelu", true),
        (vec![3, 9, 9, 9, 9, 4], "relu", false),
    ]
    .into_iter()
    .enumerate()
    {
        let n = net(&widths, act, bias, 31 + seed as u64);
        let inp = input(widths[0], 5 + seed as u64);
        for scale in [None, Some(vec![1.7; widths.len() - 1])] {
            for augment in [false, true] {
                let a = kprop3_rows(
                    &n,
                    &inp,
                    scale.as_deref(),
                    true,
                    augment,
                    augment,
                    Cancel(None),
                )
                .unwrap();
                let b = kprop3_factored(&n, &inp, scale.as_deref(), true, augment, Cancel(None))
                    .unwrap();
                assert_same_layers(&a, &b, true, &format!("{act} {scale:?} {augment}"));
            }
        }
    }
}

#[test]
fn factored_fourth_cumulant_equals_the_dense_one() {
    // kprop4::kprop4_factored (Q = Sym(Σ u ⊗ v ⊗ B), O(n³ · rank) per layer) against kprop4::kprop4
    // SIMPLE (the dense n⁴ tensor): unequal widths, both metrics, depth up to 5 activations (Q
    // carried through three of them)
    use boltzkit_core::mlp::kprop4::{kprop4, kprop4_factored};
    for (seed, (widths, act, bias)) in [
        (vec![5, 7, 6, 8, 4], "relu", true),
        (vec![4, 6, 8, 5, 3], "tanh", false),
        (vec![6, 5, 7, 9, 2], "gelu", true),
        (vec![3, 9, 8, 9, 7, 9, 4], "relu", false),
    ]
    .into_iter()
    .enumerate()
    {
        let n = net(&widths, act, bias, 41 + seed as u64);
        let inp = input(widths[0], 7 + seed as u64);
        for scale in [None, Some(vec![1.3; widths.len() - 1])] {
            let a = kprop4(&n, &inp, scale.as_deref(), true, false, false, Cancel(None)).unwrap();
            let b = kprop4_factored(&n, &inp, scale.as_deref(), true, Cancel(None)).unwrap();
            assert_same_layers(&a, &b, true, &format!("{act} {scale:?}"));
        }
    }
}
