//! Numerical building blocks shared by every module: compensated summation, vectorising dot
//! products and sums, and Gauss–Legendre quadrature rules.

/// Neumaier (improved Kahan–Babuška) compensated accumulator.
///
/// The error of a sum of `n` terms is bounded by about `2 ε Σ|x_i|` instead of `n ε Σ|x_i|`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Neumaier {
    sum: f64,
    comp: f64,
}

impl Neumaier {
    /// An empty sum.
    pub const fn new() -> Self {
        Self {
            sum: 0.0,
            comp: 0.0,
        }
    }

    /// Adds one term.
    #[inline]
    pub fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.comp += (self.sum - t) + x;
        } else {
            self.comp += (x - t) + self.sum;
        }
        self.sum = t;
    }

    /// Adds another compensated sum.
    #[inline]
    pub fn merge(&mut self, other: &Neumaier) {
        self.add(other.sum);
        self.add(other.comp);
    }

    /// The compensated value of the sum.
    #[inline]
    pub fn value(&self) -> f64 {
        self.sum + self.comp
    }
}

/// `a · b` (over the common length) with eight partial sums, so the loop vectorises (a serial
/// sum is bound by the add latency); a fixed order, the same bits for any caller: the logistic
/// regression's rows, NUTS's U-turn criterion, the MLP row sums.
#[inline]
pub fn dot8(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// `Σ a_i` in the order of [`dot8`].
#[inline]
pub fn sum8(a: &[f64]) -> f64 {
    let mut acc = [0.0; 8];
    let ca = a.chunks_exact(8);
    let ra = ca.remainder();
    for x in ca {
        for k in 0..8 {
            acc[k] += x[k];
        }
    }
    let mut s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for x in ra {
        s += x;
    }
    s
}

/// Compensated sum of a slice, in order.
pub fn neumaier_sum(xs: &[f64]) -> f64 {
    let mut acc = Neumaier::new();
    for &x in xs {
        acc.add(x);
    }
    acc.value()
}

/// An `n`-point Gauss–Legendre rule on `[-1, 1]`: nodes in increasing order and their weights.
#[derive(Debug, Clone)]
pub struct GaussLegendre {
    /// Nodes in `(-1, 1)`, increasing.
    pub nodes: Vec<f64>,
    /// Positive weights summing to 2.
    pub weights: Vec<f64>,
}

impl GaussLegendre {
    /// Builds the rule by Newton iteration on the Legendre polynomial `P_n` (exact to a few ulp
    /// for `n ≤ 200`). `n = 0` gives an empty rule.
    pub fn new(n: usize) -> Self {
        let mut nodes = vec![0.0; n];
        let mut weights = vec![0.0; n];
        let nf = n as f64;
        for i in 0..n.div_ceil(2) {
            // Tricomi's initial guess for the i-th largest root.
            let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (nf + 0.5)).cos();
            let mut dp = 1.0;
            for _ in 0..100 {
                let (p, d) = legendre_and_derivative(n, x);
                dp = d;
                let dx = p / d;
                x -= dx;
                if dx.abs() <= 1e-16 * x.abs().max(1e-300) {
                    break;
                }
            }
            let (_, d) = legendre_and_derivative(n, x);
            if d != 0.0 {
                dp = d;
            }
            let w = 2.0 / ((1.0 - x * x) * dp * dp);
            nodes[n - 1 - i] = x;
            nodes[i] = -x;
            weights[n - 1 - i] = w;
            weights[i] = w;
        }
        if n % 2 == 1 {
            nodes[n / 2] = 0.0;
        }
        Self { nodes, weights }
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the rule has no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Nodes mapped to `[a, b]`, appended to `out`.
    pub fn push_nodes(&self, a: f64, b: f64, out: &mut Vec<f64>) {
        // written so that intervals near f64::MAX do not overflow
        let h = 0.5 * b - 0.5 * a;
        let c = a + h;
        out.extend(self.nodes.iter().map(|&t| c + h * t));
    }

    /// Weights for the interval `[a, b]` (the `[-1, 1]` weights times `(b - a) / 2`).
    pub fn scaled_weight(&self, i: usize, a: f64, b: f64) -> f64 {
        (0.5 * b - 0.5 * a) * self.weights[i]
    }
}

/// `(P_n(x), P_n'(x))` by the three-term recurrence.
fn legendre_and_derivative(n: usize, x: f64) -> (f64, f64) {
    if n == 0 {
        return (1.0, 0.0);
    }
    let (mut p0, mut p1) = (1.0, x);
    for k in 2..=n {
        let kf = k as f64;
        let p2 = ((2.0 * kf - 1.0) * x * p1 - (kf - 1.0) * p0) / kf;
        p0 = p1;
        p1 = p2;
    }
    let d = n as f64 * (x * p1 - p0) / (x * x - 1.0);
    (p1, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neumaier_beats_naive_summation() {
        let xs = [1.0, 1e100, 1.0, -1e100];
        assert_eq!(neumaier_sum(&xs), 2.0);
    }

    #[test]
    fn gauss_legendre_integrates_polynomials_exactly() {
        for n in [1usize, 2, 3, 4, 7, 20, 40] {
            let g = GaussLegendre::new(n);
            assert!((g.weights.iter().sum::<f64>() - 2.0).abs() < 1e-14);
            for k in 0..(2 * n) {
                let exact = if k % 2 == 1 {
                    0.0
                } else {
                    2.0 / (k as f64 + 1.0)
                };
                let got: f64 = g
                    .nodes
                    .iter()
                    .zip(&g.weights)
                    .map(|(x, w)| w * x.powi(k as i32))
                    .sum();
                assert!((got - exact).abs() < 1e-13, "n={n} k={k} got={got}");
            }
        }
    }

    #[test]
    fn gauss_legendre_exp_on_interval() {
        let g = GaussLegendre::new(20);
        let (a, b) = (0.5, 3.0);
        let mut xs = Vec::new();
        g.push_nodes(a, b, &mut xs);
        let got: f64 = xs
            .iter()
            .enumerate()
            .map(|(i, x)| g.scaled_weight(i, a, b) * x.exp())
            .sum();
        let exact = b.exp() - a.exp();
        assert!((got / exact - 1.0).abs() < 1e-15);
    }
}
