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

/// `A Wᵀ` (`rows × rows`) for row-major `A` and `W`, both `rows × cols`; `W Wᵀ` with `A = W`.
pub fn a_wt(a: &[f64], w: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut out = vec![0.0; rows * rows];
    gemm(
        rows,
        cols,
        rows,
        View::rows(a, cols),
        View::trans(w, cols),
        0.0,
        &mut out,
    );
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
