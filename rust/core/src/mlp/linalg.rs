//! Dense matrix products on top of the pure-Rust `matrixmultiply` kernels.
//!
//! [`gemm`] splits the rows of the output into fixed blocks of [`ROW_BLOCK`] rows and runs the
//! blocks on rayon; each output entry is computed by the same kernel call whatever the thread
//! count, so results are bit-identical for any number of threads.

use rayon::prelude::*;

/// Rows of the output per parallel task.
pub const ROW_BLOCK: usize = 64;

/// A strided read-only matrix view: entry `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// Backing storage.
    pub data: &'a [f64],
    /// Row stride.
    pub rs: usize,
    /// Column stride.
    pub cs: usize,
}

impl<'a> View<'a> {
    /// Row-major matrix with `cols` columns.
    pub fn rows(data: &'a [f64], cols: usize) -> Self {
        View {
            data,
            rs: cols,
            cs: 1,
        }
    }
    /// The transpose of a row-major matrix with `cols` columns.
    pub fn trans(data: &'a [f64], cols: usize) -> Self {
        View {
            data,
            rs: 1,
            cs: cols,
        }
    }
}

/// `C = A B + beta C` with `A` `m × k`, `B` `k × n`, `C` row-major `m × n` (`c.len() == m n`).
/// Parallel over row blocks of `C` unless the product is small.
pub fn gemm(m: usize, k: usize, n: usize, a: View<'_>, b: View<'_>, beta: f64, c: &mut [f64]) {
    debug_assert_eq!(c.len(), m * n);
    if m == 0 || n == 0 {
        return;
    }
    let run = |i0: usize, rows: usize, cblk: &mut [f64]| {
        if k == 0 {
            for x in cblk.iter_mut() {
                *x *= beta;
            }
            return;
        }
        // SAFETY: the views cover (i0..i0+rows) x (0..k) and (0..k) x (0..n) by construction
        // (callers pass full matrices), and cblk is a distinct rows x n block of C.
        unsafe {
            matrixmultiply::dgemm(
                rows,
                k,
                n,
                1.0,
                a.data.as_ptr().add(i0 * a.rs),
                a.rs as isize,
                a.cs as isize,
                b.data.as_ptr(),
                b.rs as isize,
                b.cs as isize,
                beta,
                cblk.as_mut_ptr(),
                n as isize,
                1,
            );
        }
    };
    let work = m as f64 * k as f64 * n as f64;
    if work < 2e5 || m <= ROW_BLOCK {
        run(0, m, c);
    } else {
        c.par_chunks_mut(ROW_BLOCK * n)
            .enumerate()
            .for_each(|(bi, cblk)| run(bi * ROW_BLOCK, cblk.len() / n, cblk));
    }
}

/// Single-threaded `C = A B` in `f32` (row-major `C`), used by the Monte Carlo forward pass.
pub fn sgemm_serial(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    b: &[f32],
    b_trans: bool,
    c: &mut [f32],
) {
    debug_assert_eq!(c.len(), m * n);
    let (rsb, csb) = if b_trans { (1, k) } else { (n, 1) };
    // SAFETY: a is m x k row-major, b is k x n (or its transpose n x k row-major), c is m x n.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            k as isize,
            1,
            b.as_ptr(),
            rsb as isize,
            csb as isize,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// Single-threaded `C = A Bᵀ` in `f64` with `A` `m × k` and `B` `n × k`, both row-major.
pub fn dgemm_abt_serial(m: usize, k: usize, n: usize, a: &[f64], b: &[f64], c: &mut [f64]) {
    debug_assert_eq!(c.len(), m * n);
    // SAFETY: shapes as documented.
    unsafe {
        matrixmultiply::dgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            k as isize,
            1,
            b.as_ptr(),
            1,
            k as isize,
            0.0,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// `W C` (`rows × cols`) for a row-major `W` (`rows × cols`) and `C` (`cols × cols`).
pub fn w_c(w: &[f64], rows: usize, cols: usize, c: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; rows * cols];
    gemm(
        rows,
        cols,
        cols,
        View::rows(w, cols),
        View::rows(c, cols),
        0.0,
        &mut out,
    );
    out
}

/// Row blocks of [`a_wt`]'s upper block triangle.
const SYM_BLOCK: usize = 32;

/// `A Wᵀ` (`rows × rows`) for row-major `A` and `W`, both `rows × cols`, **where the product is
/// symmetric** (every caller's `A = W X` with a symmetric `X`, or `A = W`): from `2 SYM_BLOCK`
/// rows on, only the blocks of rows `i₀..i₀ + 32` against the columns `j ≥ i₀` are computed
/// (`≈ rows² cols / 2 + 16 rows cols` multiply-adds instead of `rows² cols`) and the rest
/// mirrored, so the result is exactly symmetric; smaller products are one full GEMM.
pub fn a_wt(a: &[f64], w: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut out = vec![0.0; rows * rows];
    if rows < 2 * SYM_BLOCK {
        gemm(
            rows,
            cols,
            rows,
            View::rows(a, cols),
            View::trans(w, cols),
            0.0,
            &mut out,
        );
        return out;
    }
    let blocks: Vec<(usize, Vec<f64>)> = (0..rows)
        .step_by(SYM_BLOCK)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|i0| {
            let (h, width) = (SYM_BLOCK.min(rows - i0), rows - i0);
            let mut blk = vec![0.0; h * width];
            gemm(
                h,
                cols,
                width,
                View::rows(&a[i0 * cols..], cols),
                View::trans(&w[i0 * cols..], cols),
                0.0,
                &mut blk,
            );
            (i0, blk)
        })
        .collect();
    for (i0, blk) in &blocks {
        let width = rows - i0;
        for (r, src) in blk.chunks(width).enumerate() {
            let i = i0 + r;
            // the entries j ≥ i of row i (its block's rows below the diagonal are mirrored)
            out[i * rows + i..(i + 1) * rows].copy_from_slice(&src[r..]);
        }
    }
    for i in 1..rows {
        for j in 0..i {
            out[i * rows + j] = out[j * rows + i];
        }
    }
    out
}

/// `Wᵀ S W` (`cols × cols`) for a row-major `W` (`rows × cols`) and `S` (`rows × rows`).
pub fn wt_s_w(w: &[f64], rows: usize, cols: usize, s: &[f64]) -> Vec<f64> {
    let mut sw = vec![0.0; rows * cols];
    gemm(
        rows,
        rows,
        cols,
        View::rows(s, rows),
        View::rows(w, cols),
        0.0,
        &mut sw,
    );
    let mut out = vec![0.0; cols * cols];
    gemm(
        cols,
        rows,
        cols,
        View::trans(w, cols),
        View::rows(&sw, cols),
        0.0,
        &mut out,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wt_of_a_symmetric_product_is_exactly_symmetric_and_right() {
        // W X Wᵀ with a symmetric X, below and above the blocked size, against the naive sums
        for (rows, cols) in [(5, 7), (63, 20), (64, 9), (100, 37), (131, 64)] {
            let w: Vec<f64> = (0..rows * cols)
                .map(|i| ((i * 7919) % 23) as f64 / 11.0 - 1.0)
                .collect();
            let x: Vec<f64> = (0..cols * cols)
                .map(|q| {
                    let (i, j) = (q / cols, q % cols);
                    ((i.min(j) * 31 + i.max(j) * 17) % 13) as f64 / 6.0 - 1.0
                })
                .collect();
            let a = w_c(&w, rows, cols, &x);
            let s = a_wt(&a, &w, rows, cols);
            for i in 0..rows {
                for j in 0..rows {
                    let naive: f64 = (0..cols).map(|k| a[i * cols + k] * w[j * cols + k]).sum();
                    let got = s[i * rows + j];
                    assert!(
                        (got - naive).abs() <= 1e-12 * (1.0 + naive.abs()),
                        "{rows}x{cols} ({i},{j}): {got} vs {naive}"
                    );
                    if rows >= 2 * SYM_BLOCK {
                        assert_eq!(got.to_bits(), s[j * rows + i].to_bits());
                    }
                }
            }
        }
    }

    #[test]
    fn gemm_matches_naive_loops() {
        let (m, k, n) = (130, 37, 71);
        let a: Vec<f64> = (0..m * k).map(|i| ((i * 7919) % 13) as f64 - 6.0).collect();
        let b: Vec<f64> = (0..n * k)
            .map(|i| ((i * 104729) % 11) as f64 - 5.0)
            .collect();
        let mut c = vec![0.0; m * n];
        // C = A Bᵀ with B stored n x k
        gemm(m, k, n, View::rows(&a, k), View::trans(&b, k), 0.0, &mut c);
        for i in 0..m {
            for j in 0..n {
                let s: f64 = (0..k).map(|l| a[i * k + l] * b[j * k + l]).sum();
                assert_eq!(s, c[i * n + j]);
            }
        }
    }
}
