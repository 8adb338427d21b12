//! Shared helpers of the mlp integration tests: a small deterministic generator and random nets.

use boltzkit_core::mlp::Net;

/// A 64-bit linear congruential generator (test data only).
pub struct Lcg(pub u64);

impl Lcg {
    /// Uniform on (−1, 1).
    pub fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 2.0
    }
}

/// A net of the given widths, activation `act` on every hidden layer, weights uniform with
/// variance `2 / fan_in`, biases uniform on (−0.3, 0.3) when `bias`.
pub fn net(widths: &[usize], act: &str, bias: bool, seed: u64) -> Net<'static> {
    let mut r = Lcg(seed);
    let shapes: Vec<(usize, usize)> = widths.windows(2).map(|w| (w[1], w[0])).collect();
    let weights: Vec<Vec<f64>> = shapes
        .iter()
        .map(|&(rows, cols)| {
            (0..rows * cols)
                .map(|_| r.next() * (3.0 * 2.0 / cols as f64).sqrt())
                .collect()
        })
        .collect();
    let biases: Vec<Vec<f64>> = shapes
        .iter()
        .map(|&(rows, _)| {
            (0..rows)
                .map(|_| if bias { 0.3 * r.next() } else { 0.0 })
                .collect()
        })
        .collect();
    let acts = vec![act.to_string(); widths.len() - 2];
    Net::new(&shapes, weights, biases, &acts).unwrap()
}
