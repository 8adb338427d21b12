//! Spin-module edge cases against independent truths (issue 14).

use boltzkit_core::spin::{Dense, EnumerateOptions, SpinError, enumerate_exact};

#[test]
fn too_large_errors_start_with_the_public_argument() {
    let n = 27;
    let j = vec![0.0; n * n];
    let h = vec![0.0; n];
    let m = Dense::new(&j, &h).unwrap();
    let betas = [1.0];
    let o = EnumerateOptions {
        betas: &betas,
        ..Default::default()
    };
    let e = enumerate_exact(&m, &o).unwrap_err();
    assert!(matches!(e, SpinError::TooLarge { .. }), "{e:?}");
    assert!(e.to_string().starts_with("model: "), "{e}");
}

#[test]
fn enumeration_of_two_spins_matches_the_closed_form() {
    // E = -J s1 s2: Z = 2 e^{βJ} + 2 e^{-βJ} = 4 cosh(βJ)
    let j = [0.0, 0.7, 0.7, 0.0];
    let h = [0.0, 0.0];
    let m = Dense::new(&j, &h).unwrap();
    let betas = [0.0, 0.5, 2.0];
    let o = EnumerateOptions {
        betas: &betas,
        ..Default::default()
    };
    let r = enumerate_exact(&m, &o).unwrap();
    for (k, b) in betas.iter().enumerate() {
        let truth = (4.0 * (b * 0.7_f64).cosh()).ln();
        assert!(
            (r.ln_z[k] - truth).abs() < 1e-12,
            "{} vs {truth}",
            r.ln_z[k]
        );
    }
}
