//! Exact enumeration of every state (Gray-code walk, rayon over blocks of the walk).

use super::{Cancel, Couplings, SpinError, check_betas};
use crate::parallel::with_threads;
use rayon::prelude::*;

/// Largest number of spins [`enumerate_exact`] accepts (2^26 ≈ 6.7e7 states).
pub const ENUMERATE_MAX_N: usize = 26;
/// Largest number of spins for the overlap distribution `P(q)` (it stores all 2^n energies).
pub const PQ_MAX_N: usize = 22;

/// Settings of [`enumerate_exact`].
#[derive(Debug, Clone)]
pub struct EnumerateOptions<'a> {
    /// Inverse temperatures (finite, ≥ 0).
    pub betas: &'a [f64],
    /// How many lowest-energy states to return (≥ 1).
    pub n_lowest: usize,
    /// Compute `⟨s_i s_j⟩` and `⟨q²⟩` (`O(n)` extra work per state and β).
    pub correlations: bool,
    /// Compute the two-replica overlap distribution `P(q)` (`n ≤ PQ_MAX_N`).
    pub overlap_distribution: bool,
    /// Threads.
    pub threads: Option<usize>,
    /// Cancellation flag, polled per block.
    pub cancel: Cancel<'a>,
}

impl Default for EnumerateOptions<'_> {
    fn default() -> Self {
        Self {
            betas: &[],
            n_lowest: 16,
            correlations: false,
            overlap_distribution: false,
            threads: None,
            cancel: Cancel(None),
        }
    }
}

/// Exact thermodynamics of a model of `n ≤ 26` spins; per-β arrays are indexed like `betas`.
#[derive(Debug, Clone, PartialEq)]
pub struct Enumeration {
    /// Number of spins.
    pub n: usize,
    /// `ln Z(β)`.
    pub ln_z: Vec<f64>,
    /// `⟨E⟩`.
    pub mean_energy: Vec<f64>,
    /// Heat capacity `C = β² (⟨E²⟩ − ⟨E⟩²)` (whole system, `k_B = 1`).
    pub heat_capacity: Vec<f64>,
    /// `⟨|m|⟩` with `m = Σ s_i / n`.
    pub mean_abs_m: Vec<f64>,
    /// `⟨m²⟩`.
    pub mean_m2: Vec<f64>,
    /// `⟨m⁴⟩`.
    pub mean_m4: Vec<f64>,
    /// `⟨s_i⟩`, `betas.len() × n`.
    pub mean_s: Vec<f64>,
    /// `⟨s_i s_j⟩`, `betas.len() × n × n` (empty unless requested).
    pub corr: Vec<f64>,
    /// `⟨q⟩ = Σ⟨s_i⟩²/n` for two independent replicas.
    pub mean_q: Vec<f64>,
    /// `⟨q²⟩ = Σ_ij ⟨s_i s_j⟩² / n²` (empty unless correlations were requested).
    pub mean_q2: Vec<f64>,
    /// `P(q)` on `q_k = (2k − n)/n`, `k = 0..=n`, `betas.len() × (n+1)` (empty unless requested).
    pub pq: Vec<f64>,
    /// Lowest energies found, ascending (recomputed exactly), up to `n_lowest`.
    pub lowest_energies: Vec<f64>,
    /// Their states, `lowest_energies.len() × n`.
    pub lowest_states: Vec<i8>,
    /// Ground-state energy.
    pub ground_energy: f64,
    /// Number of states within `1e-9 · scale` of the ground energy (`scale` = Σ|J_ij|/2 + Σ|h_i| + 1).
    pub degeneracy: u64,
}

/// Weighted sums for one β over part of the walk, relative to `exp(shift)`.
#[derive(Debug, Clone)]
struct Acc {
    shift: f64,
    w: f64,
    we: f64,
    we2: f64,
    wam: f64,
    wm2: f64,
    wm4: f64,
    ws: Vec<f64>,
    last: Vec<f64>,
    wss: Vec<f64>,
    lastp: Vec<f64>,
}

impl Acc {
    fn new(n: usize, corr: bool) -> Self {
        Self {
            shift: f64::NEG_INFINITY,
            w: 0.0,
            we: 0.0,
            we2: 0.0,
            wam: 0.0,
            wm2: 0.0,
            wm4: 0.0,
            ws: vec![0.0; n],
            last: vec![0.0; n],
            wss: if corr { vec![0.0; n * n] } else { Vec::new() },
            lastp: if corr { vec![0.0; n * n] } else { Vec::new() },
        }
    }

    fn scale(&mut self, c: f64) {
        self.w *= c;
        self.we *= c;
        self.we2 *= c;
        self.wam *= c;
        self.wm2 *= c;
        self.wm4 *= c;
        for v in self.ws.iter_mut().chain(self.last.iter_mut()) {
            *v *= c;
        }
        for v in self.wss.iter_mut().chain(self.lastp.iter_mut()) {
            *v *= c;
        }
    }

    #[inline]
    fn add(&mut self, x: f64, e: f64, m: f64) {
        if x > self.shift {
            if self.shift > f64::NEG_INFINITY {
                self.scale((self.shift - x).exp());
            }
            self.shift = x;
        }
        let w = (x - self.shift).exp();
        self.w += w;
        self.we += w * e;
        self.we2 += w * e * e;
        self.wam += w * m.abs();
        let m2 = m * m;
        self.wm2 += w * m2;
        self.wm4 += w * m2 * m2;
    }

    /// Books the weight accumulated since spin `i` (and its pairs) last changed, before it flips.
    #[inline]
    fn before_flip(&mut self, i: usize, s: &[i8]) {
        let n = s.len();
        let si = s[i] as f64;
        self.ws[i] += si * (self.w - self.last[i]);
        self.last[i] = self.w;
        if !self.wss.is_empty() {
            for (j, &sj) in s.iter().enumerate() {
                if j == i {
                    continue;
                }
                let k = if i < j { i * n + j } else { j * n + i };
                self.wss[k] += si * sj as f64 * (self.w - self.lastp[k]);
                self.lastp[k] = self.w;
            }
        }
    }

    fn flush(&mut self, s: &[i8]) {
        let n = s.len();
        for ((ws, last), &si) in self.ws.iter_mut().zip(self.last.iter_mut()).zip(s) {
            *ws += si as f64 * (self.w - *last);
            *last = self.w;
        }
        if !self.wss.is_empty() {
            for i in 0..n {
                for j in (i + 1)..n {
                    let k = i * n + j;
                    self.wss[k] += (s[i] * s[j]) as f64 * (self.w - self.lastp[k]);
                    self.lastp[k] = self.w;
                }
            }
        }
    }

    fn merge(&mut self, o: &Acc) {
        if o.shift == f64::NEG_INFINITY {
            return;
        }
        let (ca, cb, sh) = if o.shift > self.shift {
            ((self.shift - o.shift).exp(), 1.0, o.shift)
        } else {
            (1.0, (o.shift - self.shift).exp(), self.shift)
        };
        self.shift = sh;
        let mix = |a: &mut f64, b: f64| *a = *a * ca + b * cb;
        mix(&mut self.w, o.w);
        mix(&mut self.we, o.we);
        mix(&mut self.we2, o.we2);
        mix(&mut self.wam, o.wam);
        mix(&mut self.wm2, o.wm2);
        mix(&mut self.wm4, o.wm4);
        for (a, b) in self.ws.iter_mut().zip(&o.ws) {
            mix(a, *b);
        }
        for (a, b) in self.wss.iter_mut().zip(&o.wss) {
            mix(a, *b);
        }
    }
}

struct Block {
    accs: Vec<Acc>,
    lowest: Vec<(f64, u32)>,
    min_e: f64,
    count: u64,
    energies: Vec<f64>,
}

fn state_of(g: u32, n: usize, s: &mut [i8]) {
    for (i, v) in s.iter_mut().enumerate().take(n) {
        *v = if (g >> i) & 1 == 1 { 1 } else { -1 };
    }
}

/// Exact `ln Z`, `⟨E⟩`, heat capacity, magnetisation moments, `⟨s_i⟩`, optionally `⟨s_i s_j⟩`,
/// `⟨q²⟩` and `P(q)`, the lowest energies and the ground-state degeneracy, by visiting all `2^n`
/// states in Gray-code order (one flip and an `O(n)` field update per state). The walk is cut
/// into blocks run in parallel; block sums are merged in block order, so the result does not
/// depend on the thread count. Sums are kept relative to their running maximum (log-sum-exp).
///
/// # Errors
/// `n > 26` ([`SpinError::TooLarge`]), `P(q)` asked for `n > 22`, bad β list or `n_lowest`,
/// a bad thread count, or [`SpinError::Cancelled`].
pub fn enumerate_exact<C: Couplings<R = f64>>(
    model: &C,
    o: &EnumerateOptions<'_>,
) -> Result<Enumeration, SpinError> {
    let n = model.n();
    if n > ENUMERATE_MAX_N {
        return Err(SpinError::TooLarge {
            arg: "model",
            what: "the number of spins to enumerate",
            n: n as u64,
            limit: ENUMERATE_MAX_N as u64,
        });
    }
    if o.overlap_distribution && n > PQ_MAX_N {
        return Err(SpinError::TooLarge {
            arg: "overlap_distribution",
            what: "the number of spins for the overlap distribution P(q)",
            n: n as u64,
            limit: PQ_MAX_N as u64,
        });
    }
    check_betas("betas", o.betas)?;
    if o.n_lowest == 0 || o.n_lowest > 1 << 16 {
        return Err(SpinError::invalid(
            "n_lowest",
            "must be between 1 and 65536",
        ));
    }
    let nb = o.betas.len();
    let blk_bits = if n <= 12 { 0 } else { (n - 12).min(10) };
    let kb = n - blk_bits;
    let scale = 1.0
        + model.h().iter().map(|v| v.abs()).sum::<f64>()
        + 0.5 * (0..n).map(|i| model.abs_row_sum(i)).sum::<f64>();
    let tol = 1e-9 * scale;
    let corr = o.correlations;
    let keep_e = o.overlap_distribution;
    let run_block = |b: usize| -> Result<Block, SpinError> {
        o.cancel.check()?;
        let t0 = (b as u64) << kb;
        let len = 1u64 << kb;
        let mut s = vec![0i8; n];
        let g0 = (t0 ^ (t0 >> 1)) as u32;
        state_of(g0, n, &mut s);
        let mut phi = vec![0.0; n];
        model.fields(&s, &mut phi);
        let mut e = model.energy(&s);
        let mut m: f64 = s.iter().map(|&v| v as f64).sum();
        let mut accs: Vec<Acc> = (0..nb).map(|_| Acc::new(n, corr)).collect();
        let mut lowest: Vec<(f64, u32)> = Vec::with_capacity(o.n_lowest + 1);
        let mut min_e = f64::INFINITY;
        let mut count = 0u64;
        let mut energies = if keep_e {
            vec![0.0; len as usize]
        } else {
            Vec::new()
        };
        let gbase = ((b as u64) ^ ((b as u64) >> 1)) << kb;
        let mut g = g0;
        let nf = n as f64;
        for t in t0..t0 + len {
            for (acc, &beta) in accs.iter_mut().zip(o.betas) {
                acc.add(-beta * e, e, m / nf);
            }
            if keep_e {
                energies[(g as u64 - gbase) as usize] = e;
            }
            if e < min_e - tol {
                min_e = e;
                count = 1;
            } else if e <= min_e + tol {
                count += 1;
                min_e = min_e.min(e);
            }
            if lowest.len() < o.n_lowest || e < lowest[lowest.len() - 1].0 {
                let pos = lowest.partition_point(|&(x, _)| x <= e);
                lowest.insert(pos, (e, g));
                lowest.truncate(o.n_lowest);
            }
            if t + 1 == t0 + len {
                break;
            }
            let i = (t + 1).trailing_zeros() as usize;
            for acc in accs.iter_mut() {
                acc.before_flip(i, &s);
            }
            e += 2.0 * s[i] as f64 * phi[i];
            m -= 2.0 * s[i] as f64;
            s[i] = -s[i];
            g ^= 1 << i;
            model.flip(i, s[i], &mut phi);
        }
        for acc in accs.iter_mut() {
            acc.flush(&s);
        }
        o.cancel.advance(1);
        Ok(Block {
            accs,
            lowest,
            min_e,
            count,
            energies,
        })
    };
    let nblocks = 1usize << blk_bits;
    // Progress unit: one block of 2^kb states.
    o.cancel.set_total(nblocks as u64);
    let blocks: Vec<Block> = with_threads(o.threads, || {
        (0..nblocks)
            .into_par_iter()
            .map(run_block)
            .collect::<Result<Vec<_>, _>>()
    })??;
    // Merge in block order.
    let mut accs: Vec<Acc> = (0..nb).map(|_| Acc::new(n, corr)).collect();
    let mut lowest: Vec<(f64, u32)> = Vec::new();
    let mut min_e = f64::INFINITY;
    for b in &blocks {
        for (a, x) in accs.iter_mut().zip(&b.accs) {
            a.merge(x);
        }
        lowest.extend_from_slice(&b.lowest);
        min_e = min_e.min(b.min_e);
    }
    let degeneracy: u64 = blocks
        .iter()
        .filter(|b| b.min_e <= min_e + tol)
        .map(|b| b.count)
        .sum();
    // Exact energies of the candidates, then the k lowest (ties by state code).
    let mut s = vec![0i8; n];
    let mut cand: Vec<(f64, u32)> = lowest
        .iter()
        .map(|&(_, g)| {
            state_of(g, n, &mut s);
            (model.energy(&s), g)
        })
        .collect();
    cand.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    cand.truncate(o.n_lowest);
    let mut lowest_states = Vec::with_capacity(cand.len() * n);
    for &(_, g) in &cand {
        state_of(g, n, &mut s);
        lowest_states.extend_from_slice(&s);
    }
    let mut r = Enumeration {
        n,
        ln_z: Vec::with_capacity(nb),
        mean_energy: Vec::with_capacity(nb),
        heat_capacity: Vec::with_capacity(nb),
        mean_abs_m: Vec::with_capacity(nb),
        mean_m2: Vec::with_capacity(nb),
        mean_m4: Vec::with_capacity(nb),
        mean_s: Vec::with_capacity(nb * n),
        corr: Vec::new(),
        mean_q: Vec::with_capacity(nb),
        mean_q2: Vec::new(),
        pq: Vec::new(),
        lowest_energies: cand.iter().map(|c| c.0).collect(),
        lowest_states,
        ground_energy: cand.first().map_or(min_e, |c| c.0),
        degeneracy,
    };
    for (a, &beta) in accs.iter().zip(o.betas) {
        let w = a.w;
        r.ln_z.push(a.shift + w.ln());
        let me = a.we / w;
        r.mean_energy.push(me);
        r.heat_capacity
            .push(beta * beta * (a.we2 / w - me * me).max(0.0));
        r.mean_abs_m.push(a.wam / w);
        r.mean_m2.push(a.wm2 / w);
        r.mean_m4.push(a.wm4 / w);
        let ms: Vec<f64> = a.ws.iter().map(|v| v / w).collect();
        r.mean_q
            .push(ms.iter().map(|v| v * v).sum::<f64>() / n as f64);
        r.mean_s.extend_from_slice(&ms);
        if corr {
            let mut c = vec![0.0; n * n];
            for i in 0..n {
                c[i * n + i] = 1.0;
                for j in (i + 1)..n {
                    let v = a.wss[i * n + j] / w;
                    c[i * n + j] = v;
                    c[j * n + i] = v;
                }
            }
            r.mean_q2
                .push(c.iter().map(|v| v * v).sum::<f64>() / (n * n) as f64);
            r.corr.extend_from_slice(&c);
        }
    }
    if o.overlap_distribution {
        let mut energies = vec![0.0; 1usize << n];
        for (b, blk) in blocks.iter().enumerate() {
            let gb = (b ^ (b >> 1)) << kb;
            energies[gb..gb + (1usize << kb)].copy_from_slice(&blk.energies);
        }
        drop(blocks);
        for (k, &beta) in o.betas.iter().enumerate() {
            o.cancel.check()?;
            let lz = r.ln_z[k];
            let mut p: Vec<f64> = energies.iter().map(|&e| (-beta * e - lz).exp()).collect();
            fwht(&mut p);
            for v in p.iter_mut() {
                *v *= *v;
            }
            fwht(&mut p);
            let inv = 1.0 / (1u64 << n) as f64;
            let mut hist = vec![0.0; n + 1];
            for (d, v) in p.iter().enumerate() {
                hist[n - d.count_ones() as usize] += v * inv;
            }
            r.pq.extend_from_slice(&hist);
        }
    }
    Ok(r)
}

/// In-place fast Walsh–Hadamard transform (unnormalised).
fn fwht(a: &mut [f64]) {
    let n = a.len();
    let mut h = 1;
    while h < n {
        for chunk in a.chunks_mut(2 * h) {
            let (x, y) = chunk.split_at_mut(h);
            for (u, v) in x.iter_mut().zip(y.iter_mut()) {
                let (p, q) = (*u, *v);
                *u = p + q;
                *v = p - q;
            }
        }
        h *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spin::Dense;

    /// Brute force without Gray codes: ln Z, <E>, <s_i s_j>, P(q) of a small random model.
    #[test]
    fn matches_direct_sum() {
        let n = 7;
        let mut g = crate::rng::SplitMix64::new(5, 0);
        let mut j = vec![0.0; n * n];
        for a in 0..n {
            for b in (a + 1)..n {
                let v = g.next_f64() - 0.5;
                j[a * n + b] = v;
                j[b * n + a] = v;
            }
        }
        let h: Vec<f64> = (0..n).map(|_| g.next_f64() - 0.5).collect();
        let m = Dense::new(&j, &h).unwrap();
        let betas = [0.0, 0.7, 2.0];
        let r = enumerate_exact(
            &m,
            &EnumerateOptions {
                betas: &betas,
                correlations: true,
                overlap_distribution: true,
                n_lowest: 3,
                ..Default::default()
            },
        )
        .unwrap();
        let mut s = vec![0i8; n];
        for (k, &beta) in betas.iter().enumerate() {
            let mut z = 0.0;
            let mut ez = 0.0;
            let mut c01 = 0.0;
            let mut ps = vec![0.0; 1 << n];
            for x in 0..(1u32 << n) {
                state_of(x, n, &mut s);
                let e = m.energy(&s);
                let w = (-beta * e).exp();
                ps[x as usize] = w;
                z += w;
                ez += w * e;
                c01 += w * (s[0] * s[1]) as f64;
            }
            assert!((r.ln_z[k] - z.ln()).abs() < 1e-12);
            assert!((r.mean_energy[k] - ez / z).abs() < 1e-12);
            assert!((r.corr[k * n * n + 1] - c01 / z).abs() < 1e-12);
            let mut pq = vec![0.0; n + 1];
            for x in 0..(1usize << n) {
                for y in 0..(1usize << n) {
                    let d = (x ^ y).count_ones() as usize;
                    pq[n - d] += ps[x] * ps[y] / (z * z);
                }
            }
            for (a, b) in pq.iter().zip(&r.pq[k * (n + 1)..(k + 1) * (n + 1)]) {
                assert!((a - b).abs() < 1e-12);
            }
        }
        assert_eq!(r.degeneracy, 1);
        assert!(r.lowest_energies.windows(2).all(|w| w[0] <= w[1]));
    }
}
