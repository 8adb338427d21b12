//! Coupling storage (dense rows, CSR) and the operations every kernel needs.

use super::SpinError;
use rayon::prelude::*;
use std::ops::{Add, AddAssign, Mul};

/// Storage precision of dense couplings and of the local fields SA keeps (`f64` or `f32`).
pub trait Real:
    Copy
    + Send
    + Sync
    + Default
    + PartialOrd
    + 'static
    + Add<Output = Self>
    + Mul<Output = Self>
    + AddAssign
{
    /// Conversion from `f64` (rounding for `f32`).
    fn from_f64(x: f64) -> Self;
    /// Conversion to `f64` (exact).
    fn to_f64(self) -> f64;
}

impl Real for f64 {
    #[inline]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
}

impl Real for f32 {
    #[inline]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64
    }
}

/// Symmetric couplings with zero diagonal and fields; what the kernels need of them.
pub trait Couplings: Sync {
    /// Precision of the local fields kernels keep for this storage.
    type R: Real;
    /// Number of spins.
    fn n(&self) -> usize;
    /// Fields `h` (length `n`).
    fn h(&self) -> &[f64];
    /// `φ = J s + h` in the storage precision.
    fn fields(&self, s: &[i8], phi: &mut [Self::R]);
    /// Updates `φ` after spin `i` was flipped to `s_new`: `φ_j += 2 s_new J_ji` for every `j`.
    fn flip(&self, i: usize, s_new: i8, phi: &mut [Self::R]);
    /// [`Couplings::flip`] on fields of `k` reads stored interleaved (`phi[j·k + b]` is read
    /// `b`'s field at spin `j`), for read `b`: `phi[j·k + b] += 2 s_new J_ji` for every `j`, with
    /// the same arithmetic as `flip` (bit-identical).
    fn flip_lane(&self, i: usize, s_new: i8, phi: &mut [Self::R], k: usize, b: usize);
    /// Whether lockstep blocks of reads should keep their fields interleaved (storages whose
    /// flips touch scattered memory: one cache line then serves every read of the block).
    fn prefers_lanes(&self) -> bool {
        false
    }
    /// Nonzero couplings of spin `i` as `(j, J_ij)`, for storages that list them cheaply (CSR,
    /// layered); `None` for the others.
    fn row_entries(&self, i: usize) -> Option<Vec<(usize, f64)>> {
        let _ = i;
        None
    }
    /// Row `i` of `J` for dense storage (`None` for the others).
    fn dense_row(&self, i: usize) -> Option<&[Self::R]> {
        let _ = i;
        None
    }
    /// `Σ_j |J_ij|`.
    fn abs_row_sum(&self, i: usize) -> f64;
    /// `Σ_j J_ij²`.
    fn sq_row_sum(&self, i: usize) -> f64;
    /// `(J x)_i` in `f64` (no field).
    fn row_dot(&self, i: usize, x: &[f64]) -> f64;
    /// `((J∘J) x)_i` in `f64`.
    fn row_sq_dot(&self, i: usize, x: &[f64]) -> f64;
    /// `out = J x` in `f64` (no fields).
    fn matvec(&self, x: &[f64], out: &mut [f64]) {
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.row_dot(i, x);
        }
    }

    /// Energy `E(s) = −½ sᵀJs − hᵀs` computed in `f64`.
    fn energy(&self, s: &[i8]) -> f64;

    /// `Some(M)` when every coupling and field is an integer and
    /// `M = max_i (Σ_j |J_ij| + |h_i|) ≤ INT_TABLE_MAX`: every local field kept by the kernels is
    /// then an exact integer in `[−M, M]`, so a move's cost `ΔE = 2 s φ` takes at most `2M + 1`
    /// values and its acceptance probability can be looked up instead of computed.
    fn integral_bound(&self) -> Option<usize> {
        None
    }
}

/// Largest field bound [`Couplings::integral_bound`] reports (acceptance tables of ≤ 2·256 + 1 entries).
pub const INT_TABLE_MAX: usize = 256;

/// [`Couplings::integral_bound`] of a model given its coupling values and fields.
pub(crate) fn integral_bound_of<C: Couplings + ?Sized>(
    model: &C,
    couplings: impl Iterator<Item = f64>,
) -> Option<usize> {
    let mut all = couplings;
    if !model.h().iter().all(|v| v.fract() == 0.0) || !all.all(|v| v.fract() == 0.0) {
        return None;
    }
    let mut m = 0.0f64;
    for i in 0..model.n() {
        m = m.max(model.abs_row_sum(i) + model.h()[i].abs());
        if m.is_nan() || m > INT_TABLE_MAX as f64 {
            return None;
        }
    }
    Some(m as usize)
}

/// Dense row-major couplings (`n × n`) in precision `R`, fields in `f64`.
#[derive(Debug, Clone, Copy)]
pub struct Dense<'a, R: Real> {
    n: usize,
    j: &'a [R],
    h: &'a [f64],
}

impl<'a, R: Real> Dense<'a, R> {
    /// Checks and wraps `J` (row-major, `n²` values) and `h` (`n` values).
    ///
    /// # Errors
    /// `J` not `n²` long, not finite, not symmetric (relative tolerance 1e-12 of `max|J|`, or
    /// exact for `f32`), or with a nonzero diagonal; `h` of the wrong length or not finite.
    pub fn new(j: &'a [R], h: &'a [f64]) -> Result<Self, SpinError> {
        let n = h.len();
        if n == 0 {
            return Err(SpinError::invalid("J", "the model has no spins"));
        }
        if j.len() != n * n {
            return Err(SpinError::invalid(
                "J",
                format!(
                    "expected {n}×{n} = {} values to match h, got {}",
                    n * n,
                    j.len()
                ),
            ));
        }
        super::check_finite("h", h)?;
        // max |J| in eight independent lanes (no serial `max` chain), NaN / ±inf flagged by
        // `|v| = NaN or > MAX`; the first offending entry is looked up only when there is one.
        let (mut lanes, mut bad) = ([0.0f64; 8], false);
        for c in j.chunks(8) {
            for (m, v) in lanes.iter_mut().zip(c) {
                let a = v.to_f64().abs();
                bad |= a.is_nan() || a > f64::MAX;
                *m = if a > *m { a } else { *m };
            }
        }
        if bad && let Some(k) = j.iter().position(|v| !v.to_f64().is_finite()) {
            let v = j[k].to_f64();
            return Err(SpinError::invalid(
                "J",
                format!("must be finite, got {v} at ({}, {})", k / n, k % n),
            ));
        }
        let amax = lanes.iter().fold(0.0f64, |m, &a| m.max(a));
        let tol = 1e-12 * amax;
        for a in 0..n {
            if j[a * n + a].to_f64() != 0.0 {
                return Err(SpinError::invalid(
                    "J",
                    format!(
                        "the diagonal must be zero (it only adds a constant), got J[{a},{a}] = {}",
                        j[a * n + a].to_f64()
                    ),
                ));
            }
        }
        // Symmetry tile by tile (both tiles stay in cache; a plain column walk misses on every
        // load once `J` outgrows the cache); the first offending pair in row order is reported.
        const T: usize = 32;
        let bad = |a: usize, b: usize| {
            let (x, y) = (j[a * n + b].to_f64(), j[b * n + a].to_f64());
            (x - y).abs() > tol
        };
        for a0 in (0..n).step_by(T) {
            let a1 = (a0 + T).min(n);
            let mut found = false;
            for b0 in (a0..n).step_by(T) {
                let b1 = (b0 + T).min(n);
                for a in a0..a1 {
                    for b in b0.max(a + 1)..b1 {
                        found |= bad(a, b);
                    }
                }
            }
            if found {
                for a in a0..a1 {
                    for b in (a + 1)..n {
                        if bad(a, b) {
                            let (x, y) = (j[a * n + b].to_f64(), j[b * n + a].to_f64());
                            return Err(SpinError::invalid(
                                "J",
                                format!("must be symmetric, J[{a},{b}] = {x} but J[{b},{a}] = {y}"),
                            ));
                        }
                    }
                }
            }
        }
        Ok(Self { n, j, h })
    }

    /// Row `i` of `J`.
    #[inline]
    pub fn row(&self, i: usize) -> &[R] {
        &self.j[i * self.n..(i + 1) * self.n]
    }
}

impl<R: Real> Couplings for Dense<'_, R> {
    type R = R;
    fn n(&self) -> usize {
        self.n
    }
    fn h(&self) -> &[f64] {
        self.h
    }
    fn fields(&self, s: &[i8], phi: &mut [R]) {
        for (i, p) in phi.iter_mut().enumerate() {
            let mut acc = 0.0f64;
            for (&jv, &sv) in self.row(i).iter().zip(s) {
                acc += jv.to_f64() * sv as f64;
            }
            *p = R::from_f64(acc + self.h[i]);
        }
    }
    #[inline(always)]
    fn flip(&self, i: usize, s_new: i8, phi: &mut [R]) {
        let f = R::from_f64(2.0 * s_new as f64);
        for (p, &jv) in phi.iter_mut().zip(self.row(i)) {
            *p += f * jv;
        }
    }
    #[inline]
    fn flip_lane(&self, i: usize, s_new: i8, phi: &mut [R], k: usize, b: usize) {
        let f = R::from_f64(2.0 * s_new as f64);
        for (p, &jv) in phi[b..].iter_mut().step_by(k).zip(self.row(i)) {
            *p += f * jv;
        }
    }
    fn dense_row(&self, i: usize) -> Option<&[R]> {
        Some(self.row(i))
    }
    fn abs_row_sum(&self, i: usize) -> f64 {
        self.row(i).iter().map(|v| v.to_f64().abs()).sum()
    }
    fn sq_row_sum(&self, i: usize) -> f64 {
        self.row(i).iter().map(|v| v.to_f64() * v.to_f64()).sum()
    }
    fn row_dot(&self, i: usize, x: &[f64]) -> f64 {
        self.row(i).iter().zip(x).map(|(a, b)| a.to_f64() * b).sum()
    }
    fn row_sq_dot(&self, i: usize, x: &[f64]) -> f64 {
        self.row(i)
            .iter()
            .zip(x)
            .map(|(a, b)| a.to_f64() * a.to_f64() * b)
            .sum()
    }
    fn energy(&self, s: &[i8]) -> f64 {
        let mut e = 0.0;
        for i in 0..self.n {
            let si = s[i] as f64;
            let mut acc = 0.0;
            for (&jv, &sj) in self.row(i)[i + 1..].iter().zip(&s[i + 1..]) {
                acc += jv.to_f64() * sj as f64;
            }
            e -= si * (acc + self.h[i]);
        }
        e
    }
    fn integral_bound(&self) -> Option<usize> {
        integral_bound_of(self, self.j.iter().map(|v| v.to_f64()))
    }
}

/// Sparse symmetric couplings in CSR form (sorted column indices, no diagonal entries).
#[derive(Debug, Clone, Copy)]
pub struct Sparse<'a> {
    n: usize,
    indptr: &'a [usize],
    indices: &'a [usize],
    data: &'a [f64],
    h: &'a [f64],
}

impl<'a> Sparse<'a> {
    /// Checks and wraps a CSR matrix and the fields.
    ///
    /// # Errors
    /// Inconsistent CSR arrays, indices out of range or not strictly increasing within a row,
    /// a diagonal entry, a non-finite value, or an asymmetric pattern / values (exact).
    pub fn new(
        indptr: &'a [usize],
        indices: &'a [usize],
        data: &'a [f64],
        h: &'a [f64],
    ) -> Result<Self, SpinError> {
        let n = h.len();
        if n == 0 {
            return Err(SpinError::invalid("J", "the model has no spins"));
        }
        if indptr.len() != n + 1 || indptr[0] != 0 || indptr[n] != indices.len() {
            return Err(SpinError::invalid(
                "J",
                format!(
                    "CSR indptr must have n + 1 = {} entries from 0 to nnz",
                    n + 1
                ),
            ));
        }
        if data.len() != indices.len() {
            return Err(SpinError::invalid(
                "J",
                "CSR data and indices differ in length",
            ));
        }
        super::check_finite("h", h)?;
        super::check_finite("J", data)?;
        for i in 0..n {
            let (a, b) = (indptr[i], indptr[i + 1]);
            if a > b || b > indices.len() {
                return Err(SpinError::invalid("J", "CSR indptr must be non-decreasing"));
            }
            let row = &indices[a..b];
            for (k, &c) in row.iter().enumerate() {
                if c >= n {
                    return Err(SpinError::invalid(
                        "J",
                        format!("column index {c} out of range in row {i}"),
                    ));
                }
                if c == i {
                    return Err(SpinError::invalid(
                        "J",
                        format!("the diagonal must be zero, row {i} stores a diagonal entry"),
                    ));
                }
                if k > 0 && row[k - 1] >= c {
                    return Err(SpinError::invalid(
                        "J",
                        format!("CSR column indices of row {i} must be sorted and unique"),
                    ));
                }
            }
        }
        let s = Self {
            n,
            indptr,
            indices,
            data,
            h,
        };
        for i in 0..n {
            for k in indptr[i]..indptr[i + 1] {
                let c = indices[k];
                let r = &indices[indptr[c]..indptr[c + 1]];
                let ok = match r.binary_search(&i) {
                    Ok(p) => data[indptr[c] + p] == data[k],
                    Err(_) => false,
                };
                if !ok {
                    return Err(SpinError::invalid(
                        "J",
                        format!("must be symmetric, entry ({i}, {c}) has no equal mirror"),
                    ));
                }
            }
        }
        Ok(s)
    }

    #[inline]
    fn row(&self, i: usize) -> (&[usize], &[f64]) {
        let (a, b) = (self.indptr[i], self.indptr[i + 1]);
        (&self.indices[a..b], &self.data[a..b])
    }
}

impl Couplings for Sparse<'_> {
    type R = f64;
    fn n(&self) -> usize {
        self.n
    }
    fn h(&self) -> &[f64] {
        self.h
    }
    fn fields(&self, s: &[i8], phi: &mut [f64]) {
        for (i, p) in phi.iter_mut().enumerate() {
            let (c, v) = self.row(i);
            *p = c.iter().zip(v).map(|(&c, &v)| v * s[c] as f64).sum::<f64>() + self.h[i];
        }
    }
    #[inline]
    fn flip(&self, i: usize, s_new: i8, phi: &mut [f64]) {
        let f = 2.0 * s_new as f64;
        let (c, v) = self.row(i);
        for (&c, &v) in c.iter().zip(v) {
            phi[c] += f * v;
        }
    }
    #[inline]
    fn flip_lane(&self, i: usize, s_new: i8, phi: &mut [f64], k: usize, b: usize) {
        let f = 2.0 * s_new as f64;
        let (c, v) = self.row(i);
        for (&c, &v) in c.iter().zip(v) {
            phi[c * k + b] += f * v;
        }
    }
    fn prefers_lanes(&self) -> bool {
        true
    }
    fn row_entries(&self, i: usize) -> Option<Vec<(usize, f64)>> {
        let (c, v) = self.row(i);
        Some(c.iter().copied().zip(v.iter().copied()).collect())
    }
    fn abs_row_sum(&self, i: usize) -> f64 {
        self.row(i).1.iter().map(|v| v.abs()).sum()
    }
    fn sq_row_sum(&self, i: usize) -> f64 {
        self.row(i).1.iter().map(|v| v * v).sum()
    }
    fn row_dot(&self, i: usize, x: &[f64]) -> f64 {
        let (c, v) = self.row(i);
        c.iter().zip(v).map(|(&c, &v)| v * x[c]).sum()
    }
    fn row_sq_dot(&self, i: usize, x: &[f64]) -> f64 {
        let (c, v) = self.row(i);
        c.iter().zip(v).map(|(&c, &v)| v * v * x[c]).sum()
    }
    fn energy(&self, s: &[i8]) -> f64 {
        let mut e = 0.0;
        for i in 0..self.n {
            let (c, v) = self.row(i);
            let mut acc = 0.0;
            for (&c, &v) in c.iter().zip(v) {
                if c > i {
                    acc += v * s[c] as f64;
                }
            }
            e -= s[i] as f64 * (acc + self.h[i]);
        }
        e
    }
    fn integral_bound(&self) -> Option<usize> {
        integral_bound_of(self, self.data.iter().copied())
    }
}

/// Energies of many states (`states`: `n_states × n`, row-major, ±1), in parallel.
///
/// # Errors
/// States of the wrong length or with values other than ±1.
pub fn energies<C: Couplings>(model: &C, states: &[i8]) -> Result<Vec<f64>, SpinError> {
    let n = model.n();
    super::check_states("states", states, n)?;
    Ok(states.par_chunks(n).map(|s| model.energy(s)).collect())
}

/// Local fields `φ = J s + h` of many states (`n_states × n` out, `f64`).
///
/// # Errors
/// As [`energies`].
pub fn local_fields<C: Couplings>(model: &C, states: &[i8]) -> Result<Vec<f64>, SpinError> {
    let n = model.n();
    super::check_states("states", states, n)?;
    let mut out = vec![0.0; states.len()];
    out.par_chunks_mut(n)
        .zip(states.par_chunks(n))
        .for_each(|(o, s)| {
            let mut x = vec![0.0; n];
            for (xv, &sv) in x.iter_mut().zip(s) {
                *xv = sv as f64;
            }
            model.matvec(&x, o);
            for (o, h) in o.iter_mut().zip(model.h()) {
                *o += h;
            }
        });
    Ok(out)
}

/// Perron eigenvalue of the Hadamard square `J∘J` and its eigenvector, by power iteration
/// (the matrix is nonnegative, so the iteration from the all-ones vector converges to it).
/// Returns `(λ, v, iterations)` with `|v| = 1`; stops when the Rayleigh estimate changes by less
/// than `tol` (relative) or after `max_iter` products. Rows run in parallel; each row's sum is
/// sequential, so the result does not depend on the thread count.
pub fn perron_hadamard<C: Couplings>(
    model: &C,
    tol: f64,
    max_iter: usize,
) -> (f64, Vec<f64>, usize) {
    let n = model.n();
    let mut v = vec![1.0 / (n as f64).sqrt(); n];
    let mut w = vec![0.0; n];
    let mut lam = 0.0;
    // Shift by the mean row sum to damp the period-2 oscillation of bipartite (layered) matrices.
    let shift = (0..n).map(|i| model.sq_row_sum(i)).sum::<f64>() / n as f64;
    for it in 1..=max_iter.max(1) {
        const CH: usize = 64;
        w.par_chunks_mut(CH).enumerate().for_each(|(c, wc)| {
            for (k, o) in wc.iter_mut().enumerate() {
                let i = c * CH + k;
                *o = model.row_sq_dot(i, &v);
            }
        });
        let rq: f64 = w.iter().zip(&v).map(|(a, b)| a * b).sum();
        for (wi, vi) in w.iter_mut().zip(&v) {
            *wi += shift * vi;
        }
        let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            return (0.0, v, it);
        }
        for (vi, wi) in v.iter_mut().zip(&w) {
            *vi = wi / norm;
        }
        if it > 1 && (rq - lam).abs() <= tol * rq.abs() {
            return (rq, v, it);
        }
        lam = rq;
    }
    (lam, v, max_iter)
}

/// Column ranges of each dense row that hold every nonzero coupling of the row (zero gaps
/// shorter than [`RowRuns::MIN_GAP`] are kept inside a range): a flip then adds `2 s J_ij` over
/// those ranges only. Skipping a zero coupling changes no bit: `φ + (±0) = φ` for every `φ`
/// other than `−0`, and a local field is never `−0` (the fields start as sums from `+0`, and a
/// sum is `−0` only when both terms are).
#[derive(Debug, Clone)]
pub(crate) struct RowRuns<R> {
    start: Vec<usize>,
    /// `(a, b, o)`: columns `a..b` of the row, stored at `packed[o..o + b − a]`.
    spans: Vec<(usize, usize, usize)>,
    /// Every range's couplings, row after row: a sweep streams them from one contiguous
    /// buffer, which the hardware prefetchers follow, instead of from short pieces of rows
    /// scattered through `J` (issue 18.3: the flips of a layer-shaped model wait on these loads).
    packed: Vec<R>,
    /// Rows with the same ranges share a class (the rows of one layer of a network's map).
    classes: Vec<u32>,
}

impl<R: Real> RowRuns<R> {
    /// Shortest run of zeros worth a range break.
    const MIN_GAP: usize = 16;
    /// Largest packed copy of the ranges' couplings.
    const MAX_PACKED_BYTES: usize = 1 << 28;

    /// The ranges of a dense model's rows, or `None` when the model is not dense
    /// ([`Couplings::dense_row`]) or when the ranges would skip less than a quarter of `J`.
    pub(crate) fn new<C: Couplings<R = R>>(model: &C) -> Option<Self> {
        let n = model.n();
        let mut start = Vec::with_capacity(n + 1);
        let mut spans = Vec::new();
        let mut covered = 0usize;
        start.push(0);
        for i in 0..n {
            let row = model.dense_row(i)?;
            let mut cur: Option<(usize, usize)> = None;
            for (j, v) in row.iter().enumerate() {
                if v.to_f64() == 0.0 {
                    continue;
                }
                cur = match cur {
                    Some((a, b)) if j - b < Self::MIN_GAP => Some((a, j + 1)),
                    Some((a, b)) => {
                        spans.push((a, b, covered));
                        covered += b - a;
                        Some((j, j + 1))
                    }
                    None => Some((j, j + 1)),
                };
            }
            if let Some((a, b)) = cur {
                spans.push((a, b, covered));
                covered += b - a;
            }
            start.push(spans.len());
        }
        // worth it only when it skips a quarter of `J`; the packed copy is capped (beyond it
        // the whole rows serve, with the same bits)
        if 4 * covered > 3 * n * n || covered * std::mem::size_of::<R>() > Self::MAX_PACKED_BYTES {
            return None;
        }
        let mut packed = Vec::with_capacity(covered);
        for i in 0..n {
            let row = model.dense_row(i)?;
            for &(a, b, _) in &spans[start[i]..start[i + 1]] {
                packed.extend_from_slice(&row[a..b]);
            }
        }
        let mut ids: std::collections::HashMap<Vec<(usize, usize)>, u32> = Default::default();
        let classes = (0..n)
            .map(|i| {
                let key: Vec<(usize, usize)> = spans[start[i]..start[i + 1]]
                    .iter()
                    .map(|&(a, b, _)| (a, b))
                    .collect();
                let next = ids.len() as u32;
                *ids.entry(key).or_insert(next)
            })
            .collect();
        Some(Self {
            start,
            spans,
            packed,
            classes,
        })
    }

    /// The class of row `i`: rows with the same ranges share it.
    #[inline(always)]
    pub(crate) fn class(&self, i: usize) -> u32 {
        self.classes[i]
    }

    /// Number of ranges of row `i`.
    #[inline(always)]
    pub(crate) fn n_spans(&self, i: usize) -> usize {
        self.start[i + 1] - self.start[i]
    }

    /// Range `q` of row `i`: its first column and its couplings.
    #[inline(always)]
    pub(crate) fn span(&self, i: usize, q: usize) -> (usize, &[R]) {
        let (a, b, o) = self.spans[self.start[i] + q];
        (a, &self.packed[o..o + (b - a)])
    }

    /// The ranges of row `i`, each as its first column and its couplings.
    #[inline(always)]
    fn row(&self, i: usize) -> impl Iterator<Item = (usize, &[R])> {
        self.spans[self.start[i]..self.start[i + 1]]
            .iter()
            .map(|&(a, b, o)| (a, &self.packed[o..o + (b - a)]))
    }

    /// [`Couplings::fields`] of a dense model summed over the ranges only (the same terms in the
    /// same order, less the zero ones: the same bits); `false` (nothing written) when the model
    /// is not dense.
    pub(crate) fn fields<C: Couplings<R = R>>(&self, model: &C, s: &[i8], phi: &mut [R]) -> bool {
        for (i, p) in phi.iter_mut().enumerate() {
            let mut acc = 0.0f64;
            for (a, vals) in self.row(i) {
                for (&jv, &sv) in vals.iter().zip(&s[a..]) {
                    acc += jv.to_f64() * sv as f64;
                }
            }
            *p = R::from_f64(acc + model.h()[i]);
        }
        true
    }

    /// [`Couplings::energy`] of a dense model summed over the ranges only (same bits); `None`
    /// when the model is not dense.
    pub(crate) fn energy<C: Couplings<R = R>>(&self, model: &C, s: &[i8]) -> Option<f64> {
        let mut e = 0.0;
        for (i, &si) in s.iter().enumerate() {
            let mut acc = 0.0;
            for (a, vals) in self.row(i) {
                let skip = (i + 1).saturating_sub(a).min(vals.len());
                for (&jv, &sj) in vals[skip..].iter().zip(&s[a + skip..]) {
                    acc += jv.to_f64() * sj as f64;
                }
            }
            e -= si as f64 * (acc + model.h()[i]);
        }
        Some(e)
    }

    /// [`Couplings::flip`] of row `i` over its ranges (same bits).
    #[inline(always)]
    pub(crate) fn flip(&self, i: usize, s_new: i8, phi: &mut [R]) {
        let f = R::from_f64(2.0 * s_new as f64);
        for (a, vals) in self.row(i) {
            for (p, &jv) in phi[a..a + vals.len()].iter_mut().zip(vals) {
                *p += f * jv;
            }
        }
    }
}
