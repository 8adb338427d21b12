//! Gradients of kprop K = 2 AUGMENT against central finite differences of the estimate itself.
#![allow(clippy::needless_range_loop)]

use boltzkit_core::mlp::{
    Cancel, EstimateOptions, Input, KpropMetric, Method, Net, estimate, gradient, kprop2_gradient,
};
use boltzkit_core::parallel::with_threads;

mod common;
use common::{Lcg, net};

fn input(n0: usize, full: bool, seed: u64) -> Input {
    let mut r = Lcg(seed);
    let mean: Vec<f64> = (0..n0).map(|_| 0.5 * r.next()).collect();
    if full {
        // Σ = A Aᵀ / n0 + 0.2 I
        let a: Vec<f64> = (0..n0 * n0).map(|_| r.next()).collect();
        let mut cov = vec![0.0; n0 * n0];
        for i in 0..n0 {
            for j in 0..n0 {
                cov[i * n0 + j] = (0..n0).map(|k| a[i * n0 + k] * a[j * n0 + k]).sum::<f64>()
                    / n0 as f64
                    + if i == j { 0.2 } else { 0.0 };
            }
        }
        Input::new(n0, mean, cov, true).unwrap()
    } else {
        let var: Vec<f64> = (0..n0).map(|_| 0.6 + 0.5 * r.next()).collect();
        Input::new(n0, mean, var, false).unwrap()
    }
}

#[derive(Clone, Copy, Debug)]
enum Scale {
    Exact,
    Consts,
    Rows,
}

fn init_scale(n: &Net, scale: Scale) -> Option<Vec<f64>> {
    match scale {
        Scale::Exact => None,
        Scale::Consts => Some((0..n.depth()).map(|l| 1.5 + 0.25 * l as f64).collect()),
        Scale::Rows => Some(
            n.weights
                .iter()
                .zip(&n.widths[1..])
                .map(|(w, &r)| w.iter().map(|x| x * x).sum::<f64>() / r as f64)
                .collect(),
        ),
    }
}

/// `Σ c_mean m + Σ c_var v` at `layer` from the kprop K = 2 augment estimate.
fn objective(n: &Net, inp: &Input, scale: Scale, layer: usize, cm: &[f64], cv: &[f64]) -> f64 {
    let opts = EstimateOptions {
        method: Method::KProp2Augment,
        mehler_order: 1,
        keep_cov: false,
        init_scale: init_scale(n, scale),
    };
    let e = estimate(n, inp, &opts, Cancel(None)).unwrap();
    let l = &e.layers[layer];
    (0..cm.len())
        .map(|i| cm[i] * l.pre_mean[i] + cv[i] * l.pre_var[i])
        .sum()
}

fn grad(
    n: &Net,
    inp: &Input,
    scale: Scale,
    layer: usize,
    cm: &[f64],
    cv: &[f64],
) -> (f64, Vec<Vec<f64>>, Vec<Vec<f64>>) {
    let consts = init_scale(n, Scale::Consts).unwrap();
    let metric = match scale {
        Scale::Exact => KpropMetric::Exact,
        Scale::Consts => KpropMetric::Average(&consts),
        Scale::Rows => KpropMetric::AverageOfRows,
    };
    let g = kprop2_gradient(n, inp, metric, layer, cm, cv, Cancel(None)).unwrap();
    (g.value, g.d_weights, g.d_biases)
}

/// Largest relative error of the gradient against central differences over every parameter;
/// errors are relative to `max(|fd|, 1e-3 max |∂|)` (a parameter with an almost zero
/// derivative is compared on the scale of the others).
fn max_rel_error(n: &Net, inp: &Input, scale: Scale, layer: usize, seed: u64) -> f64 {
    let mut r = Lcg(seed);
    let w = n.widths[layer + 1];
    let cm: Vec<f64> = (0..w).map(|_| r.next()).collect();
    let cv: Vec<f64> = (0..w).map(|_| r.next()).collect();
    let (value, dw, db) = grad(n, inp, scale, layer, &cm, &cv);
    let f0 = objective(n, inp, scale, layer, &cm, &cv);
    assert!(
        (value - f0).abs() <= 1e-12 * (1.0 + f0.abs()),
        "value {value} vs the estimate's {f0}"
    );
    let gmax = dw
        .iter()
        .chain(&db)
        .flatten()
        .fold(0.0f64, |a, x| a.max(x.abs()));
    assert!(gmax > 0.0);
    let h = 1e-5;
    let mut worst = 0.0f64;
    let mut check = |g: f64, plus: Net, minus: Net, what: String| {
        let fd = (objective(&plus, inp, scale, layer, &cm, &cv)
            - objective(&minus, inp, scale, layer, &cm, &cv))
            / (2.0 * h);
        let rel = (fd - g).abs() / fd.abs().max(1e-3 * gmax);
        assert!(
            rel < 1e-5,
            "{what}: gradient {g} vs finite differences {fd}"
        );
        worst = worst.max(rel);
    };
    for l in 0..n.depth() {
        for k in 0..n.weights[l].len() {
            let (mut p, mut m) = (n.clone(), n.clone());
            p.weights[l].to_mut()[k] += h;
            m.weights[l].to_mut()[k] -= h;
            check(dw[l][k], p, m, format!("W[{l}][{k}]"));
        }
        for k in 0..n.biases[l].len() {
            let (mut p, mut m) = (n.clone(), n.clone());
            p.biases[l].to_mut()[k] += h;
            m.biases[l].to_mut()[k] -= h;
            check(db[l][k], p, m, format!("b[{l}][{k}]"));
        }
    }
    worst
}

#[test]
fn kprop2_augment_gradient_matches_finite_differences() {
    // (widths, activation, biases, full input covariance)
    let cases: [(&[usize], &str, bool, bool); 7] = [
        (&[3, 5, 4], "relu", true, false),
        (&[4, 6, 5, 3], "tanh", true, true),
        (&[3, 8, 4, 6, 2], "gelu", false, false),
        (&[5, 4, 7, 3], "relu", false, true),
        (&[3, 7, 5, 8, 4], "tanh", false, false),
        (&[4, 3, 6, 2], "gelu", true, true),
        (&[3, 6, 6, 5, 3], "relu", true, false),
    ];
    let mut worst = 0.0f64;
    for (c, &(widths, act, bias, full)) in cases.iter().enumerate() {
        let seed = 100 + c as u64;
        let n = net(widths, act, bias, seed);
        let inp = input(widths[0], full, seed + 7);
        for scale in [Scale::Exact, Scale::Consts, Scale::Rows] {
            for layer in [n.depth() - 1, n.depth() - 2] {
                let e = max_rel_error(&n, &inp, scale, layer, seed + 3);
                eprintln!(
                    "{widths:?} {act} bias={bias} full={full} {scale:?} layer {layer}: {e:.2e}"
                );
                worst = worst.max(e);
            }
        }
    }
    eprintln!("worst relative error {worst:.2e}");
}

#[test]
fn kprop2_gradient_is_bit_identical_for_any_thread_count() {
    let n = net(&[6, 40, 33, 5], "tanh", true, 3);
    let inp = input(6, true, 4);
    let (cm, cv) = (vec![0.3; 5], vec![-0.2; 5]);
    let run = |t: usize| {
        with_threads(Some(t), || {
            kprop2_gradient(&n, &inp, KpropMetric::Exact, 2, &cm, &cv, Cancel(None)).unwrap()
        })
    };
    let (a, b) = (run(1).unwrap(), run(3).unwrap());
    assert_eq!(a.value.to_bits(), b.value.to_bits());
    assert_eq!(a.d_weights, b.d_weights);
    assert_eq!(a.d_biases, b.d_biases);
}

#[test]
fn kprop2_gradient_refuses_bad_input_by_name() {
    use boltzkit_core::mlp::MlpError;
    let n = net(&[3, 4, 2], "relu", true, 1);
    let inp = input(3, false, 2);
    let arg = |r: Result<_, MlpError>| match r {
        Err(MlpError::InvalidArgument { arg, .. }) => arg,
        other => panic!("{other:?}"),
    };
    let ok = [0.1, 0.2];
    assert_eq!(
        arg(kprop2_gradient(
            &n,
            &inp,
            KpropMetric::Exact,
            2,
            &ok,
            &ok,
            Cancel(None)
        )),
        "layer"
    );
    assert_eq!(
        arg(kprop2_gradient(
            &n,
            &inp,
            KpropMetric::Exact,
            1,
            &[0.1],
            &ok,
            Cancel(None)
        )),
        "c_mean"
    );
    assert_eq!(
        arg(kprop2_gradient(
            &n,
            &inp,
            KpropMetric::Exact,
            1,
            &[f64::NAN, 0.0],
            &ok,
            Cancel(None)
        )),
        "c_mean"
    );
    assert_eq!(
        arg(kprop2_gradient(
            &n,
            &inp,
            KpropMetric::Average(&[1.0]),
            1,
            &ok,
            &ok,
            Cancel(None)
        )),
        "init_scale"
    );
    assert_eq!(
        arg(kprop2_gradient(
            &n,
            &inp,
            KpropMetric::Average(&[1.0, f64::INFINITY]),
            1,
            &ok,
            &ok,
            Cancel(None)
        )),
        "init_scale"
    );
    assert_eq!(
        arg(kprop2_gradient(
            &n,
            &input(4, false, 2),
            KpropMetric::Exact,
            1,
            &ok,
            &ok,
            Cancel(None)
        )),
        "input_mean"
    );
    // the generic entry point no longer treats kprop methods as mean_prop
    for m in [
        Method::KProp1,
        Method::KProp2Augment,
        Method::KProp3Simple,
        Method::Cumulant3,
    ] {
        assert_eq!(
            arg(gradient(&n, &inp, m, 1, 1, &ok, &ok, Cancel(None))),
            "method"
        );
    }
}
