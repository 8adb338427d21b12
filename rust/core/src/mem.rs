//! Large buffers: allocations backed by transparent huge pages where the kernel offers them.
//!
//! A buffer of hundreds of megabytes written once (a radix split, a sampler's records) otherwise
//! pays one page fault per 4 KiB on first touch, which can cost more than the work that fills it.

/// Smallest allocation (bytes) worth advising.
const HUGE_MIN_BYTES: usize = 1 << 21;

/// Advises the kernel to back the whole pages inside `[ptr, ptr + bytes)` with huge pages.
/// Advisory only: failure (or a kernel without THP) changes nothing but speed.
fn advise_huge(ptr: *const u8, bytes: usize) {
    #[cfg(target_os = "linux")]
    {
        if bytes >= HUGE_MIN_BYTES {
            let page = 4096usize;
            let start = ptr as usize;
            let aligned = start.div_ceil(page) * page;
            let len = (start + bytes).saturating_sub(aligned) / page * page;
            if len > 0 {
                // SAFETY: advisory call on memory the caller owns and has not touched yet.
                unsafe { libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE) };
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (ptr, bytes);
    }
}

/// An empty vector with room for `n` items, on huge pages when large.
pub fn with_capacity_huge<T>(n: usize) -> Vec<T> {
    let v: Vec<T> = Vec::with_capacity(n);
    advise_huge(v.as_ptr().cast(), n * std::mem::size_of::<T>());
    v
}

/// Makes room for `additional` more items (at least doubling the capacity when it grows, as
/// `Vec::reserve` does), moving the contents to a fresh buffer on huge pages when large.
///
/// # Errors
/// The allocator's refusal (too large for the address space or the machine), instead of the
/// abort that `Vec::reserve` would end in.
pub fn reserve_huge<T: Copy>(
    v: &mut Vec<T>,
    additional: usize,
) -> Result<(), std::collections::TryReserveError> {
    if v.capacity() - v.len() >= additional {
        return Ok(());
    }
    let want = v
        .len()
        .saturating_add(additional)
        .max(v.capacity().saturating_mul(2));
    let mut nv: Vec<T> = Vec::new();
    if nv.try_reserve_exact(want).is_err() {
        // the doubling may be what does not fit: ask for the exact size
        nv.try_reserve_exact(v.len().saturating_add(additional))?;
    }
    advise_huge(nv.as_ptr().cast(), nv.capacity() * std::mem::size_of::<T>());
    nv.extend_from_slice(v);
    *v = nv;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_keeps_contents_and_grows() {
        let mut v: Vec<u64> = (0..1000).collect();
        reserve_huge(&mut v, 1 << 20).unwrap();
        assert!(v.capacity() >= 1000 + (1 << 20));
        assert_eq!(v, (0..1000).collect::<Vec<u64>>());
        let cap = v.capacity();
        reserve_huge(&mut v, 10).unwrap();
        assert_eq!(v.capacity(), cap);
        let mut w: Vec<u8> = vec![1, 2, 3];
        reserve_huge(&mut w, 5).unwrap();
        assert_eq!(w, [1, 2, 3]);
        assert!(w.capacity() >= 8);
        // an impossible request is an error, not an abort
        assert!(reserve_huge(&mut w, usize::MAX / 2).is_err());
        assert_eq!(w, [1, 2, 3]);
        let b: Vec<f64> = with_capacity_huge(1 << 19);
        assert!(b.capacity() >= 1 << 19 && b.is_empty());
    }
}
