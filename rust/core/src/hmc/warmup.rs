//! Warm-up: dual averaging of the step size on the HMC acceptance statistic
//! `min(1, e^{−ΔH})` (Hoffman & Gelman 2014, Algorithm 5) and a diagonal inverse mass matrix
//! from windowed variance estimates (Stan's schedule: a fast initial buffer, slow windows that
//! double in length, a fast terminal buffer). Statistics are pooled over chains, in chain
//! order, so the adapted values do not depend on the thread count.

use super::HmcError;

/// What a warm-up adapts, and for how long.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WarmupPlan {
    /// Warm-up iterations.
    pub n_iter: usize,
    /// Adapt the step size.
    pub adapt_step_size: bool,
    /// Adapt a diagonal inverse mass matrix.
    pub adapt_metric: bool,
    /// Target of the mean acceptance statistic, in (0, 1).
    pub target_accept: f64,
}

impl WarmupPlan {
    /// Checks the plan.
    ///
    /// # Errors
    /// [`HmcError::Invalid`] for `target_accept` outside (0, 1).
    pub fn validate(&self) -> Result<(), HmcError> {
        if !(self.target_accept > 0.0 && self.target_accept < 1.0) {
            return Err(HmcError::Invalid {
                arg: "target_accept",
                msg: format!("must be in (0, 1), got {}", self.target_accept),
            });
        }
        Ok(())
    }
}

/// Stan's slow windows `[start, end)` for `n` warm-up iterations (empty below 20 iterations:
/// then only the step size is adapted).
pub fn windows(n: usize) -> Vec<(usize, usize)> {
    if n < 20 {
        return Vec::new();
    }
    let (init, term, base) = if n < 150 {
        let init = (0.15 * n as f64) as usize;
        let term = (0.1 * n as f64) as usize;
        (init, term, n - init - term)
    } else {
        (75, 50, 25)
    };
    let last = n - term;
    let mut out = Vec::new();
    let (mut start, mut size) = (init, base);
    while start < last {
        let mut end = start + size;
        if end + 2 * size > last {
            end = last;
        }
        out.push((start, end));
        start = end;
        size *= 2;
    }
    out
}

#[derive(Debug, Clone)]
pub(crate) struct DualAveraging {
    pub(crate) mu: f64,
    pub(crate) log_eps: f64,
    pub(crate) log_eps_bar: f64,
    pub(crate) h_bar: f64,
    pub(crate) t: f64,
}

impl DualAveraging {
    const GAMMA: f64 = 0.05;
    const T0: f64 = 10.0;
    const KAPPA: f64 = 0.75;

    pub(crate) fn new(eps: f64) -> Self {
        DualAveraging {
            mu: (10.0 * eps).ln(),
            log_eps: eps.ln(),
            log_eps_bar: 0.0,
            h_bar: 0.0,
            t: 0.0,
        }
    }

    pub(crate) fn update(&mut self, stat: f64, target: f64) {
        self.t += 1.0;
        let w = 1.0 / (self.t + Self::T0);
        self.h_bar = (1.0 - w) * self.h_bar + w * (target - stat);
        self.log_eps = self.mu - self.t.sqrt() / Self::GAMMA * self.h_bar;
        let eta = self.t.powf(-Self::KAPPA);
        self.log_eps_bar = eta * self.log_eps + (1.0 - eta) * self.log_eps_bar;
    }
}

/// New settings after one warm-up iteration.
pub(crate) struct Update {
    pub step_size: f64,
    pub metric: Option<Vec<f64>>,
}

/// The warm-up state.
#[derive(Debug, Clone)]
pub(crate) struct Adapt {
    plan: WarmupPlan,
    it: usize,
    da: DualAveraging,
    eps: f64,
    windows: Vec<(usize, usize)>,
    count: f64,
    mean: Vec<f64>,
    m2: Vec<f64>,
}

impl Adapt {
    pub fn new(plan: WarmupPlan, eps: f64, d: usize) -> Self {
        let windows = if plan.adapt_metric {
            windows(plan.n_iter)
        } else {
            Vec::new()
        };
        Adapt {
            plan,
            it: 0,
            da: DualAveraging::new(eps),
            eps,
            windows,
            count: 0.0,
            mean: vec![0.0; d],
            m2: vec![0.0; d],
        }
    }

    pub fn left(&self) -> usize {
        self.plan.n_iter - self.it
    }

    /// One iteration done: `stats` are the chains' acceptance statistics, `xs` their positions.
    pub fn update(&mut self, stats: &[f64], xs: &[&[f64]]) -> Update {
        let it = self.it;
        self.it += 1;
        if self.plan.adapt_step_size {
            let s: f64 = stats
                .iter()
                .map(|&a| if a.is_nan() { 0.0 } else { a })
                .sum::<f64>()
                / stats.len() as f64;
            self.da.update(s, self.plan.target_accept);
            self.eps = self.da.log_eps.exp();
        }
        let mut metric = None;
        if let Some(&(start, end)) = self.windows.iter().find(|w| w.0 <= it && it < w.1) {
            if it == start {
                self.count = 0.0;
                self.mean.fill(0.0);
                self.m2.fill(0.0);
            }
            for x in xs {
                self.count += 1.0;
                for ((m, s), &v) in self.mean.iter_mut().zip(self.m2.iter_mut()).zip(x.iter()) {
                    let delta = v - *m;
                    *m += delta / self.count;
                    *s += delta * (v - *m);
                }
            }
            if it + 1 == end && self.count > 1.0 {
                let n = self.count;
                let var: Vec<f64> = self
                    .m2
                    .iter()
                    .map(|s| (n / (n + 5.0)) * (s / (n - 1.0)) + 1e-3 * (5.0 / (n + 5.0)))
                    .collect();
                metric = Some(var);
                if self.plan.adapt_step_size {
                    self.da = DualAveraging::new(self.eps);
                }
            }
        }
        if self.it == self.plan.n_iter && self.plan.adapt_step_size && self.da.t > 0.0 {
            self.eps = self.da.log_eps_bar.exp();
        }
        if !self.eps.is_finite() || self.eps <= 0.0 {
            self.eps = f64::MIN_POSITIVE.sqrt();
        }
        Update {
            step_size: self.eps,
            metric,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stan_windows() {
        // Stan's default 1000 warm-up iterations: 75 | 25 50 100 200 500 | 50
        let w = windows(1000);
        assert_eq!(
            w,
            vec![(75, 100), (100, 150), (150, 250), (250, 450), (450, 950)]
        );
        assert!(windows(10).is_empty());
        let w = windows(100);
        assert_eq!(w.first().unwrap().0, 15);
        assert_eq!(w.last().unwrap().1, 90);
    }

    #[test]
    fn dual_averaging_converges_on_a_monotone_response() {
        // acceptance = exp(−eps): the target 0.8 is reached at eps = −ln 0.8
        let mut da = DualAveraging::new(1.0);
        for _ in 0..2000 {
            let a = (-da.log_eps.exp()).exp();
            da.update(a, 0.8);
        }
        let eps = da.log_eps_bar.exp();
        assert!((eps - (-(0.8f64).ln())).abs() < 0.01, "{eps}");
    }
}
