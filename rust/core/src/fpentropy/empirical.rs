//! Empirical (plug-in) entropy of an array of float codes.
//!
//! The array is viewed as unsigned codes (`u8`, `u16`, `u32`, `u64`). Counting:
//! - ≤ 16-bit codes: a parallel dense histogram (one per chunk, merged).
//! - 32-bit codes: an MSD radix split on the high 16 bits — a parallel histogram, then every
//!   chunk scatters its low halves into its reserved range of each bucket (a buffer on huge
//!   pages) — and per bucket a dense count in a 2^16-entry table.
//! - 64-bit codes: the same split, then a sort per bucket.
//!
//! The entropy is computed from the *count of counts* (how many codes occur exactly `c` times):
//! `H = log₂N − (1/N) Σ_c n_c · c log₂ c`, summed in increasing `c` with compensation. The result
//! depends only on the multiset of counts, so it is the same for any thread count and equals,
//! bit for bit, the same formula applied to `np.unique(codes, return_counts=True)`.

use super::FpError;
use crate::numeric::Neumaier;
use crate::parallel::with_threads;
use rayon::prelude::*;
use std::collections::BTreeMap;

/// Bit layout of the codes: `1 + exponent_bits + mantissa_bits` bits in the low end of each code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Exponent field width.
    pub exponent_bits: u32,
    /// Fraction field width.
    pub mantissa_bits: u32,
}

impl Layout {
    /// Format width `1 + e + m`.
    pub fn bits(&self) -> u32 {
        1 + self.exponent_bits + self.mantissa_bits
    }
}

/// Result of [`empirical_entropy`].
#[derive(Debug, Clone, PartialEq)]
pub struct Empirical {
    /// Plug-in entropy of the codes, bits per value.
    pub bits_per_value: f64,
    /// Entropy of the sign bit.
    pub sign_bits: f64,
    /// Entropy of the exponent field alone.
    pub exponent_bits: f64,
    /// Joint entropy of sign and exponent.
    pub sign_exponent_bits: f64,
    /// Conditional entropy of the fraction given sign and exponent
    /// (`bits_per_value − sign_exponent_bits`).
    pub mantissa_bits_given_exp: f64,
    /// Number of values.
    pub n: u64,
    /// Number of distinct codes.
    pub n_distinct: u64,
    /// Miller–Madow bias correction `(K − 1)/(2 N ln 2)`, to add to `bits_per_value`.
    pub miller_madow: f64,
}

/// Codes the counter accepts.
pub trait Code: Copy + Send + Sync + 'static {
    /// Storage width in bits.
    const BITS: u32;
    /// The code as `u64`.
    fn to_u64(self) -> u64;
}
impl Code for u8 {
    const BITS: u32 = 8;
    fn to_u64(self) -> u64 {
        self as u64
    }
}
impl Code for u16 {
    const BITS: u32 = 16;
    fn to_u64(self) -> u64 {
        self as u64
    }
}
impl Code for u32 {
    const BITS: u32 = 32;
    fn to_u64(self) -> u64 {
        self as u64
    }
}
impl Code for u64 {
    const BITS: u32 = 64;
    fn to_u64(self) -> u64 {
        self
    }
}

/// Count of counts: `n_c` for every count `c` present.
#[derive(Debug, Clone)]
struct CountOfCounts {
    small: Box<[u64; SMALL]>, // index c < SMALL (fixed size: no bounds checks in the hot loop)
    large: BTreeMap<u64, u64>,
}

const SMALL: usize = 1 << 12;

impl CountOfCounts {
    fn new() -> Self {
        Self {
            small: Box::new([0; SMALL]),
            large: BTreeMap::new(),
        }
    }
    #[inline]
    fn add(&mut self, c: u64) {
        if (c as usize) < SMALL {
            self.small[c as usize] += 1;
        } else {
            *self.large.entry(c).or_insert(0) += 1;
        }
    }
    /// One more occurrence of a code seen `c` times so far: moves it from count `c` to `c + 1`.
    /// Slot 0 absorbs the moves out of "not seen yet" (it wraps and is never read).
    #[inline]
    fn bump(&mut self, c: u64) {
        let i = c as usize;
        if i + 1 < SMALL {
            self.small[i] = self.small[i].wrapping_sub(1);
            self.small[i + 1] += 1;
        } else {
            self.bump_slow(c);
        }
    }
    #[cold]
    fn bump_slow(&mut self, c: u64) {
        if (c as usize) < SMALL {
            self.small[c as usize] = self.small[c as usize].wrapping_sub(1);
        } else if let Some(k) = self.large.get_mut(&c) {
            *k -= 1;
            if *k == 0 {
                self.large.remove(&c);
            }
        }
        *self.large.entry(c + 1).or_insert(0) += 1;
    }
    fn merge(mut self, other: Self) -> Self {
        for (a, b) in self.small.iter_mut().zip(other.small.iter()) {
            *a = a.wrapping_add(*b);
        }
        for (c, n) in other.large {
            *self.large.entry(c).or_insert(0) += n;
        }
        self
    }
    /// (n, K, H) from the count of counts.
    fn entropy(&self) -> (u64, u64, f64) {
        let iter = self
            .small
            .iter()
            .enumerate()
            .filter(|&(c, &k)| c > 0 && k > 0)
            .map(|(c, &k)| (c as u64, k))
            .chain(self.large.iter().map(|(&c, &k)| (c, k)));
        let pairs: Vec<(u64, u64)> = iter.collect();
        entropy_from_count_of_counts(&pairs)
    }
}

/// `(N, K, H)` from `(count, multiplicity)` pairs sorted by count:
/// `H = log₂N − (Σ_c n_c c log₂ c)/N` with a compensated sum in the given order.
pub fn entropy_from_count_of_counts(pairs: &[(u64, u64)]) -> (u64, u64, f64) {
    let mut n = 0u64;
    let mut k = 0u64;
    let mut s = Neumaier::new();
    for &(c, m) in pairs {
        n += c * m;
        k += m;
        let cf = c as f64;
        s.add(m as f64 * (cf * cf.log2()));
    }
    if n == 0 {
        return (0, 0, 0.0);
    }
    let nf = n as f64;
    (n, k, nf.log2() - s.value() / nf)
}

fn entropy_of_hist(h: &[u64]) -> f64 {
    let mut cc = CountOfCounts::new();
    for &c in h {
        if c > 0 {
            cc.add(c);
        }
    }
    cc.entropy().2
}

const CHUNK: usize = 1 << 16;

/// Dense parallel histogram of `key(code)` over `n_bins` bins.
fn histogram<T: Code>(codes: &[T], n_bins: usize, key: impl Fn(u64) -> usize + Sync) -> Vec<u64> {
    codes
        .par_chunks(CHUNK)
        .fold(
            || vec![0u64; n_bins],
            |mut h, ch| {
                for &c in ch {
                    h[key(c.to_u64())] += 1;
                }
                h
            },
        )
        .reduce(
            || vec![0u64; n_bins],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    *x += y;
                }
                a
            },
        )
}

/// Plug-in entropy of `codes` with the given layout.
///
/// # Errors
/// [`FpError::InvalidArgument`] (`codes`) for an empty array or a layout wider than the storage;
/// [`FpError::Pool`] for a bad thread count.
pub fn empirical_entropy<T: Code>(
    codes: &[T],
    layout: Layout,
    threads: Option<usize>,
) -> Result<Empirical, FpError> {
    if codes.is_empty() {
        return Err(FpError::invalid(
            "array",
            "is empty; the entropy of no values is undefined",
        ));
    }
    if layout.bits() > T::BITS {
        return Err(FpError::invalid(
            "array",
            format!(
                "format of {} bits does not fit {}-bit codes",
                layout.bits(),
                T::BITS
            ),
        ));
    }
    if T::BITS > 16 && layout.bits() != T::BITS {
        return Err(FpError::invalid(
            "array",
            format!(
                "{}-bit codes need a {}-bit format, got {} bits",
                T::BITS,
                T::BITS,
                layout.bits()
            ),
        ));
    }
    with_threads(threads, || compute(codes, layout)).map_err(FpError::from)
}

fn compute<T: Code>(codes: &[T], layout: Layout) -> Empirical {
    let width = layout.bits();
    let m = layout.mantissa_bits;
    let (cc, se_hist) = if T::BITS <= 16 {
        let h = histogram(codes, 1usize << T::BITS, |c| c as usize);
        let mut cc = CountOfCounts::new();
        for &c in &h {
            if c > 0 {
                cc.add(c);
            }
        }
        let n_se = 1usize << (width - m);
        let mut se = vec![0u64; n_se];
        for (code, &c) in h.iter().enumerate() {
            se[(code >> m) & (n_se - 1)] += c;
        }
        (cc, se)
    } else {
        wide_counts(codes, layout)
    };
    let (n, k, h) = cc.entropy();
    let ebits = layout.exponent_bits;
    let mut sign = [0u64; 2];
    let mut expo = vec![0u64; 1usize << ebits];
    for (se, &c) in se_hist.iter().enumerate() {
        sign[se >> ebits] += c;
        expo[se & ((1usize << ebits) - 1)] += c;
    }
    let h_se = entropy_of_hist(&se_hist);
    Empirical {
        bits_per_value: h,
        sign_bits: entropy_of_hist(&sign),
        exponent_bits: entropy_of_hist(&expo),
        sign_exponent_bits: h_se,
        mantissa_bits_given_exp: h - h_se,
        n,
        n_distinct: k,
        miller_madow: (k as f64 - 1.0) / (2.0 * n as f64 * std::f64::consts::LN_2),
    }
}

/// Raw pointer shared by the scatter workers; each writes a disjoint range.
struct SyncPtr<U>(*mut U);
unsafe impl<U> Send for SyncPtr<U> {}
unsafe impl<U> Sync for SyncPtr<U> {}

/// Splits `codes` by their top `top_bits` bits: returns the bucket totals and a buffer holding
/// `low(code)` for every code, grouped by bucket (bucket `b` at `starts[b]..starts[b + 1]`).
///
/// Parallel histogram per chunk (chunk `i` then owns a fixed range of every bucket), then every
/// chunk scatters into its ranges. The buffer is backed by huge pages ([`crate::mem::with_capacity_huge`]), which
/// keeps the scatter's many write streams inside the TLB.
fn radix_split<T: Code, U: Copy + Send + Sync>(
    codes: &[T],
    top_bits: u32,
    low: impl Fn(u64) -> U + Sync,
) -> (Vec<usize>, Vec<U>) {
    let nb = 1usize << top_bits;
    let shift = T::BITS - top_bits;
    let n = codes.len();
    let n_chunks = (rayon::current_num_threads() * 4).clamp(1, 256);
    let chunks: Vec<&[T]> = codes.chunks(n.div_ceil(n_chunks).max(CHUNK)).collect();
    let hists: Vec<Vec<u32>> = chunks
        .par_iter()
        .map(|ch| {
            let mut h = vec![0u32; nb];
            for &c in *ch {
                h[(c.to_u64() >> shift) as usize] += 1;
            }
            h
        })
        .collect();
    let mut starts = vec![0usize; nb + 1];
    for h in &hists {
        for (b, &c) in h.iter().enumerate() {
            starts[b + 1] += c as usize;
        }
    }
    for b in 0..nb {
        starts[b + 1] += starts[b];
    }
    let mut offsets: Vec<Vec<usize>> = Vec::with_capacity(chunks.len());
    let mut running = starts[..nb].to_vec();
    for h in &hists {
        offsets.push(running.clone());
        for (r, &c) in running.iter_mut().zip(h) {
            *r += c as usize;
        }
    }
    drop(hists);
    let mut buf: Vec<U> = crate::mem::with_capacity_huge(n);
    let dst = SyncPtr(buf.as_mut_ptr());
    chunks
        .par_iter()
        .zip(offsets.into_par_iter())
        .for_each(|(ch, mut off)| {
            let d = &dst;
            for &c in *ch {
                let v = c.to_u64();
                let b = (v >> shift) as usize;
                // SAFETY: chunk `i` owns [offsets[i][b], offsets[i][b] + count_i[b]) of bucket b; those
                // ranges are disjoint across chunks and buckets and cover 0..n exactly once.
                unsafe { d.0.add(off[b]).write(low(v)) };
                off[b] += 1;
            }
        });
    // SAFETY: every index in 0..n was written exactly once above.
    unsafe { buf.set_len(n) };
    (starts, buf)
}

/// Counting for 32- and 64-bit codes.
///
/// - 32-bit codes: split on the top 16 bits (the low 16 bits are kept, as `u16`), then each
///   bucket's low halves are counted in a 2^16-entry table (cleared as it is read, or scanned
///   when the bucket is large).
/// - 64-bit codes: split on the top 16 bits, then each bucket is sorted.
fn wide_counts<T: Code>(codes: &[T], layout: Layout) -> (CountOfCounts, Vec<u64>) {
    const TOP: u32 = 16;
    let nb = 1usize << TOP;
    let threads = rayon::current_num_threads();
    let (starts, cc) = if T::BITS == 32 {
        let (starts, buf) = radix_split(codes, TOP, |v| v as u16);
        let cc = (0..nb)
            .into_par_iter()
            .with_min_len((nb / (threads * 16)).max(1))
            .fold(
                || (CountOfCounts::new(), Box::new([0u32; 1 << 16])),
                |(mut cc, mut table), b| {
                    count_u16_group(&buf[starts[b]..starts[b + 1]], &mut table, &mut cc);
                    (cc, table)
                },
            )
            .map(|(cc, _)| cc)
            .reduce(CountOfCounts::new, CountOfCounts::merge);
        (starts, cc)
    } else {
        let (starts, mut buf) = radix_split(codes, TOP, |v| v);
        let mut slices: Vec<&mut [u64]> = Vec::with_capacity(nb);
        let mut rest: &mut [u64] = &mut buf;
        for b in 0..nb {
            let (head, tail) = rest.split_at_mut(starts[b + 1] - starts[b]);
            if !head.is_empty() {
                slices.push(head);
            }
            rest = tail;
        }
        let cc = slices
            .into_par_iter()
            .with_min_len(16)
            .fold(CountOfCounts::new, |mut cc, s| {
                count_sorted(s, &mut cc);
                cc
            })
            .reduce(CountOfCounts::new, CountOfCounts::merge);
        (starts, cc)
    };
    // sign+exponent histogram from the bucket totals (the top 16 bits hold sign and exponent
    // of the full-width formats float32 and float64)
    let se_bits = layout.bits() - layout.mantissa_bits;
    let mut se = vec![0u64; 1usize << se_bits];
    for b in 0..nb {
        let c = (starts[b + 1] - starts[b]) as u64;
        if c > 0 {
            se[b >> (TOP - se_bits)] += c;
        }
    }
    (cc, se)
}

/// Sorts a group and adds the run lengths.
fn count_sorted(s: &mut [u64], cc: &mut CountOfCounts) {
    s.sort_unstable();
    let mut i = 0;
    while i < s.len() {
        let mut j = i + 1;
        while j < s.len() && s[j] == s[i] {
            j += 1;
        }
        cc.add((j - i) as u64);
        i = j;
    }
}

/// Counts the distinct values of a group of `u16` in `table` (left all-zero on return), updating
/// the count of counts as each value arrives (no scan of the table afterwards).
fn count_u16_group(items: &[u16], table: &mut [u32; 1 << 16], cc: &mut CountOfCounts) {
    for &v in items {
        let t = &mut table[v as usize];
        let c = *t;
        *t = c + 1;
        cc.bump(c as u64);
    }
    if items.len() >= 1 << 13 {
        table.fill(0);
    } else {
        for &v in items {
            table[v as usize] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    use std::collections::HashMap;

    fn reference(codes: &[u64]) -> (u64, f64) {
        let mut m: HashMap<u64, u64> = HashMap::new();
        for &c in codes {
            *m.entry(c).or_insert(0) += 1;
        }
        let n = codes.len() as f64;
        let h: f64 = m
            .values()
            .map(|&c| -(c as f64 / n) * (c as f64 / n).log2())
            .sum();
        (m.len() as u64, h)
    }

    #[test]
    fn matches_a_hash_map_count() {
        let mut g = SplitMix64::new(5, 0);
        let f32s: Vec<u32> = (0..300_000)
            .map(|_| ((g.next_f64() - 0.5) as f32 * 0.02).to_bits())
            .collect();
        let lay = Layout {
            exponent_bits: 8,
            mantissa_bits: 23,
        };
        let e = empirical_entropy(&f32s, lay, Some(2)).unwrap();
        let (k, h) = reference(&f32s.iter().map(|&c| c as u64).collect::<Vec<_>>());
        assert_eq!(e.n_distinct, k);
        assert!((e.bits_per_value - h).abs() < 1e-10);
        let e1 = empirical_entropy(&f32s, lay, Some(1)).unwrap();
        assert_eq!(e, e1);

        let u16s: Vec<u16> = (0..100_000).map(|_| (g.next_u64() % 3000) as u16).collect();
        let e = empirical_entropy(
            &u16s,
            Layout {
                exponent_bits: 5,
                mantissa_bits: 10,
            },
            None,
        )
        .unwrap();
        let (k, h) = reference(&u16s.iter().map(|&c| c as u64).collect::<Vec<_>>());
        assert_eq!(e.n_distinct, k);
        assert!((e.bits_per_value - h).abs() < 1e-10);

        let u64s: Vec<u64> = (0..100_000)
            .map(|_| (g.next_f64() * 1e-3).to_bits() & !0xFFFF_FFFF)
            .collect();
        let e = empirical_entropy(
            &u64s,
            Layout {
                exponent_bits: 11,
                mantissa_bits: 52,
            },
            None,
        )
        .unwrap();
        let (k, h) = reference(&u64s);
        assert_eq!(e.n_distinct, k);
        assert!((e.bits_per_value - h).abs() < 1e-10);
    }

    #[test]
    fn field_split_adds_up() {
        let mut g = SplitMix64::new(9, 0);
        let v: Vec<u32> = (0..50_000)
            .map(|_| ((g.next_f64() - 0.3) as f32).to_bits())
            .collect();
        let e = empirical_entropy(
            &v,
            Layout {
                exponent_bits: 8,
                mantissa_bits: 23,
            },
            None,
        )
        .unwrap();
        assert!(
            (e.sign_exponent_bits + e.mantissa_bits_given_exp - e.bits_per_value).abs() < 1e-12
        );
        assert!(e.sign_bits > 0.85 && e.sign_bits <= 1.0);
        assert!(e.exponent_bits <= e.sign_exponent_bits + 1e-12);
    }

    #[test]
    fn empty_input_is_an_error() {
        let v: Vec<u8> = vec![];
        assert!(
            empirical_entropy(
                &v,
                Layout {
                    exponent_bits: 4,
                    mantissa_bits: 3
                },
                None
            )
            .is_err()
        );
        let w = [0u8; 4];
        assert!(
            empirical_entropy(
                &w,
                Layout {
                    exponent_bits: 5,
                    mantissa_bits: 3
                },
                None
            )
            .is_err()
        );
    }
}
