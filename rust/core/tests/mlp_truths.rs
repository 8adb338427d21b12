//! boltzkit-core mlp against independent truths (identity nets, one hidden layer, MC statistics).
#![allow(clippy::needless_range_loop)]

use boltzkit_core::mlp::{
    Cancel, EstimateOptions, Input, McOptions, Method, Net, estimate, gauss::norm_cdf,
    gauss::norm_pdf, gradient, monte_carlo,
};
use boltzkit_core::parallel::with_threads;

fn lcg_weights(rows: usize, cols: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    (0..rows * cols)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 2.0 * (3.0 / cols as f64).sqrt()
        })
        .collect()
}

fn net(widths: &[usize], act: &str, seed: u64) -> Net<'static> {
    let shapes: Vec<(usize, usize)> = widths.windows(2).map(|w| (w[1], w[0])).collect();
    let weights = shapes
        .iter()
        .enumerate()
        .map(|(l, &(r, c))| lcg_weights(r, c, seed + l as u64))
        .collect();
    let biases = shapes
        .iter()
        .map(|&(r, _)| (0..r).map(|i| 0.1 * (i as f64).sin()).collect::<Vec<f64>>())
        .collect();
    let acts = vec![act.to_string(); widths.len() - 2];
    Net::new(&shapes, weights, biases, &acts).unwrap()
}

fn opts(method: Method) -> EstimateOptions {
    EstimateOptions {
        method,
        mehler_order: 1,
        keep_cov: true,
        init_scale: None,
    }
}

#[test]
fn identity_net_is_exact_for_every_estimator() {
    let n = net(&[4, 6, 5, 3], "identity", 1);
    let input = Input::standard(4);
    // truth: y = A x + c with A = W3 W2 W1
    let mut mean = vec![0.0; 4];
    let mut cov: Vec<f64> = (0..16)
        .map(|k| if k % 5 == 0 { 1.0 } else { 0.0 })
        .collect();
    let mut d = 4;
    for l in 0..3 {
        let (w, b) = (&n.weights[l], &n.biases[l]);
        let r = n.widths[l + 1];
        let m2: Vec<f64> = (0..r)
            .map(|i| (0..d).map(|j| w[i * d + j] * mean[j]).sum::<f64>() + b[i])
            .collect();
        let mut c2 = vec![0.0; r * r];
        for i in 0..r {
            for k in 0..r {
                let mut s = 0.0;
                for a in 0..d {
                    for bb in 0..d {
                        s += w[i * d + a] * cov[a * d + bb] * w[k * d + bb];
                    }
                }
                c2[i * r + k] = s;
            }
        }
        mean = m2;
        cov = c2;
        d = r;
    }
    for m in [Method::MeanProp, Method::CovProp, Method::Cumulant3] {
        let e = estimate(&n, &input, &opts(m), Cancel(None)).unwrap();
        let last = e.layers.last().unwrap();
        for i in 0..3 {
            assert!((last.pre_mean[i] - mean[i]).abs() < 1e-12);
        }
        if m != Method::MeanProp {
            let c = last.pre_cov.as_ref().unwrap();
            for k in 0..9 {
                assert!((c[k] - cov[k]).abs() < 1e-12);
            }
        }
    }
}

#[test]
fn one_hidden_relu_layer_is_exact_and_mc_agrees() {
    let n = net(&[5, 40, 2], "relu", 7);
    let input = Input::standard(5);
    let (w1, b1, w2, b2) = (&n.weights[0], &n.biases[0], &n.weights[1], &n.biases[1]);
    let h: Vec<f64> = (0..40)
        .map(|i| {
            let m = b1[i];
            let s = (0..5).map(|j| w1[i * 5 + j].powi(2)).sum::<f64>().sqrt();
            s * norm_pdf(m / s) + m * norm_cdf(m / s)
        })
        .collect();
    let truth: Vec<f64> = (0..2)
        .map(|o| (0..40).map(|i| w2[o * 40 + i] * h[i]).sum::<f64>() + b2[o])
        .collect();
    let e = estimate(&n, &input, &opts(Method::CovProp), Cancel(None)).unwrap();
    for o in 0..2 {
        assert!((e.layers[1].pre_mean[o] - truth[o]).abs() < 1e-12);
    }
    let mc = |t| {
        with_threads(Some(t), || {
            monte_carlo(
                &n,
                &input,
                &McOptions {
                    n_samples: 200_000,
                    batch: 1000,
                    seed: 3,
                    antithetic: false,
                },
                Cancel(None),
            )
        })
        .unwrap()
        .unwrap()
    };
    let (a, b) = (mc(1), mc(2));
    assert_eq!(a.pre_mean, b.pre_mean);
    for o in 0..2 {
        let se = (a.pre_var[1][o] / 200_000.0).sqrt();
        assert!((a.pre_mean[1][o] - truth[o]).abs() < 5.0 * se);
    }
}

#[test]
fn cov_prop_gradient_matches_finite_differences() {
    let n = net(&[3, 8, 6, 2], "tanh", 11);
    let input = Input::standard(3);
    let (cm, cv) = (vec![0.7, -0.4], vec![0.3, 0.5]);
    let g = gradient(&n, &input, Method::CovProp, 1, 2, &cm, &cv, Cancel(None)).unwrap();
    let obj = |nn: &Net| {
        let e = estimate(nn, &input, &opts(Method::CovProp), Cancel(None)).unwrap();
        let l = &e.layers[2];
        (0..2)
            .map(|i| cm[i] * l.pre_mean[i] + cv[i] * l.pre_var[i])
            .sum::<f64>()
    };
    let h = 1e-6;
    for (l, k) in [(0usize, 5usize), (1, 13), (2, 7)] {
        let mut p = n.clone();
        p.weights[l].to_mut()[k] += h;
        let mut m = n.clone();
        m.weights[l].to_mut()[k] -= h;
        let fd = (obj(&p) - obj(&m)) / (2.0 * h);
        assert!(
            (fd - g.d_weights[l][k]).abs() < 1e-6 * (1.0 + fd.abs()),
            "{l} {k} {fd} {}",
            g.d_weights[l][k]
        );
    }
}

#[test]
fn tanh_of_huge_weights_is_the_sign_without_panic() {
    // z_i = s x_i with s up to 1e150: tanh(z_i) → sign(x_i), two independent coins, so the output
    // tanh(z1) + tanh(z2) has mean 0 and variance 2 E tanh² = 2 (1 − E sech²) = 2 (1 − 2 pdf(0)/s)
    // up to O(1/s³)
    for s in [1e3, 1e100, 1e150] {
        let shapes = [(2, 2), (1, 2)];
        let weights = vec![vec![s, 0.0, 0.0, s], vec![1.0, 1.0]];
        let biases = vec![vec![0.0; 2], vec![0.0]];
        let n = Net::new(&shapes, weights, biases, &["tanh".to_string()]).unwrap();
        let e = estimate(
            &n,
            &Input::standard(2),
            &opts(Method::CovProp),
            Cancel(None),
        )
        .unwrap();
        let out = &e.layers[1];
        assert!(out.pre_mean[0].abs() < 1e-9, "{s}: {}", out.pre_mean[0]);
        let want = 2.0 * (1.0 - 2.0 * norm_pdf(0.0) / s);
        assert!(
            (out.pre_var[0] - want).abs() < 1e-7,
            "{s}: {}",
            out.pre_var[0]
        );
    }
}

#[test]
fn tanh_moments_of_wide_inputs_match_the_step_limit() {
    use boltzkit_core::mlp::{Act, Moments};
    // for s >> 1: E tanh Z = 1 − 2Φ(−m/s) + O(1/s²), E tanh' Z = 2 pdf(m/s)/s + O(1/s³)
    for (m, s) in [
        (0.0, 100.0),
        (30.0, 1e3),
        (-5e3, 2e3),
        (1e5, 1e6),
        (3e149, 1e150),
    ] {
        let mo = Moments::compute(Act::Tanh, m, s * s, 3, true);
        let want0 = 1.0 - 2.0 * norm_cdf(-m / s);
        let want1 = 2.0 * norm_pdf(m / s) / s;
        assert!(
            (mo.g[0] - want0).abs() < 5.0 / (s * s) + 1e-14,
            "{m} {s}: {}",
            mo.g[0]
        );
        assert!(
            (mo.g[1] - want1).abs() <= 1e-3 * want1 + 1e-300,
            "{m} {s}: {}",
            mo.g[1]
        );
        assert!(
            (mo.e2 - (1.0 - want1)).abs() < 1e-3 * want1 + 1e-12,
            "{m} {s}"
        );
    }
}
