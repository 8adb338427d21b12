//! Integration tests of the fpentropy core against closed-form truths (no Python involved).

use boltzkit_core::fpentropy::{
    EntropyOptions, Format, Law, LawKind, Method, approx_entropy, exact_entropy, pow2,
};

fn h(law: &Law, fmt: &str, method: Method) -> f64 {
    let f = Format::by_name(fmt).unwrap();
    exact_entropy(
        law,
        &f,
        &EntropyOptions {
            method,
            ..Default::default()
        },
    )
    .unwrap()
    .bits
}

fn plogp(p: f64) -> f64 {
    if p > 0.0 { -p * p.log2() } else { 0.0 }
}

/// Log-uniform on [2^a, 2^b]: every cell's mass is log2(hi/lo)/(b − a), so the entropy is a sum
/// over the cells of the format computed here from the format's values alone.
#[test]
fn loguniform_over_whole_binades() {
    for (fmt, a, b) in [
        ("float16", -3, 2),
        ("bfloat16", -20, 20),
        ("float8_e4m3fn", -2, 3),
    ] {
        let f = Format::by_name(fmt).unwrap();
        let vals: Vec<f64> = f
            .positive_values(1 << 20)
            .unwrap()
            .into_iter()
            .filter(|&v| v >= pow2(a) && v <= pow2(b))
            .collect();
        let mut edges = vec![pow2(a)];
        edges.extend(vals.windows(2).map(|w| 0.5 * (w[0] + w[1])));
        edges.push(pow2(b));
        let want: f64 = edges
            .windows(2)
            .map(|e| plogp((e[1] / e[0]).log2() / (b - a) as f64))
            .sum();
        let law = Law::new(LawKind::LogUniform(pow2(a), pow2(b)), 0.0, 1.0).unwrap();
        // the width-class expansion is O(w⁴): exact enough from bfloat16 (p = 8) up
        let methods: &[Method] = if f.precision() >= 8 {
            &[Method::Enumerate, Method::Classes]
        } else {
            &[Method::Enumerate]
        };
        for &m in methods {
            let got = h(&law, fmt, m);
            assert!((got - want).abs() < 1e-10, "{fmt} {m:?}: {got} vs {want}");
        }
    }
}

/// A uniform law on exactly one 3/4-width power-of-two cell has entropy 0; on that cell and its
/// lower neighbour (width u/2) the masses are 0.6 and 0.4.
#[test]
fn three_quarter_cells() {
    let u = pow2(-10);
    let one = Law::new(LawKind::Uniform, 1.0 - 0.25 * u, 0.75 * u).unwrap();
    assert!(h(&one, "float16", Method::Enumerate).abs() < 1e-12);
    let two = Law::new(LawKind::Uniform, 1.0 - 0.75 * u, 1.25 * u).unwrap();
    let want = plogp(0.6) + plogp(0.4);
    assert!((h(&two, "float16", Method::Enumerate) - want).abs() < 1e-12);
    assert!((h(&two, "float16", Method::Classes) - want).abs() < 1e-12);
}

/// A symmetric law on a format with ±0 and ±inf: H = 1 + H(|X|) exactly.
#[test]
fn sign_bit_of_symmetric_laws() {
    for fmt in ["float16", "float32", "float8_e5m2"] {
        let n = Law::new(LawKind::Normal, 0.0, 0.7).unwrap();
        let half = Law::new(LawKind::HalfNormal, 0.0, 0.7).unwrap();
        let (a, b) = (h(&n, fmt, Method::Auto), h(&half, fmt, Method::Auto));
        assert!((a - 1.0 - b).abs() < 1e-11, "{fmt}: {a} vs 1 + {b}");
    }
}

/// The refined approximation plus the wobble is exact up to the KL spread, within the bound.
#[test]
fn approximation_bound_holds() {
    let f = Format::by_name("float32").unwrap();
    for kind in [
        LawKind::Normal,
        LawKind::Laplace,
        LawKind::StudentT(3.0),
        LawKind::Gamma(0.8),
    ] {
        let law = Law::new(kind, 0.0, 1.3).unwrap();
        let exact = exact_entropy(&law, &f, &EntropyOptions::default())
            .unwrap()
            .bits;
        let a = approx_entropy(&law, &f, false, Some(2)).unwrap();
        assert!((exact - a.refined).abs() <= a.bound, "{kind:?}");
        assert!((exact - a.refined - a.terms.w).abs() < 1e-9, "{kind:?}");
    }
}
