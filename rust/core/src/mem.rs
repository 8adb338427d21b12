//! Large buffers: allocations backed by transparent huge pages where the kernel offers them.
//!
//! A buffer of hundreds of megabytes written once (a radix split, a sampler's records) otherwise
//! pays one page fault per 4 KiB on first touch, which can cost more than the work that fills it.
//! [`with_capacity_huge`] advises a `Vec`'s allocation; [`BigVec`] (a sampler's records) owns a
//! 2 MiB-aligned mapping, so that all of it is huge pages whatever the allocator does.

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

/// `n` zeros, on huge pages when large. Allocated zeroed (`calloc`): a fresh mapping is already
/// zero, so its pages are written once (by the kernel at first touch), not twice.
pub fn zeroed_huge(n: usize) -> Vec<f64> {
    let v = vec![0.0; n];
    advise_huge(v.as_ptr().cast(), n * std::mem::size_of::<f64>());
    v
}

/// A vector of `n` copies of `value`, or the system's refusal as an error instead of an abort
/// (every buffer whose size a user controls is allocated this way).
///
/// # Errors
/// [`std::collections::TryReserveError`] when the allocation does not fit the address space or
/// the machine.
pub fn try_filled<T: Clone>(
    n: usize,
    value: T,
) -> Result<Vec<T>, std::collections::TryReserveError> {
    let mut v: Vec<T> = Vec::new();
    v.try_reserve_exact(n)?;
    advise_huge(
        v.as_ptr().cast(),
        n.saturating_mul(std::mem::size_of::<T>()),
    );
    v.resize(n, value);
    Ok(v)
}

/// An empty vector with room for `n` items, or the system's refusal as an error.
///
/// # Errors
/// [`std::collections::TryReserveError`] when the allocation does not fit.
pub fn try_with_capacity<T>(n: usize) -> Result<Vec<T>, std::collections::TryReserveError> {
    let mut v: Vec<T> = Vec::new();
    v.try_reserve_exact(n)?;
    advise_huge(
        v.as_ptr().cast(),
        n.saturating_mul(std::mem::size_of::<T>()),
    );
    Ok(v)
}

/// Smallest [`BigVec`] kept in a mapping (its size rounded up to a whole huge page).
const BIG_MIN_BYTES: usize = HUGE_PAGE / 8 * 7;

/// Size of a transparent huge page on x86-64 and aarch64 Linux (the alignment of [`BigVec`] maps).
const HUGE_PAGE: usize = 1 << 21;

/// A growable buffer of plain values for large records written once, front to back (a sampler's
/// trace). From [`BIG_MIN_BYTES`] on (on Linux) it lives in its own anonymous mapping, aligned to
/// 2 MiB and advised for huge pages: one page fault per 2 MiB on first touch instead of one per
/// 4 KiB, whatever the allocator's thresholds, and the memory goes back to the system when the
/// buffer is dropped. Smaller buffers (and other platforms) are a plain `Vec`.
pub struct BigVec<T: Copy> {
    heap: Vec<T>,
    map: Option<Mapping<T>>,
}

struct Mapping<T> {
    base: *mut u8,
    bytes: usize,
    ptr: *mut T,
    len: usize,
    cap: usize,
}

// SAFETY: a `Mapping` owns its memory exclusively (like a `Vec`); nothing else aliases it.
unsafe impl<T: Send> Send for Mapping<T> {}
// SAFETY: shared access only reads (`&self` methods hand out `&[T]`).
unsafe impl<T: Sync> Sync for Mapping<T> {}

impl<T: Copy> Default for BigVec<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy> std::fmt::Debug for BigVec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BigVec")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("mapped", &self.map.is_some())
            .finish()
    }
}

impl<T: Copy> BigVec<T> {
    /// An empty buffer (no allocation).
    pub fn new() -> Self {
        BigVec {
            heap: Vec::new(),
            map: None,
        }
    }

    /// Number of values.
    #[inline]
    pub fn len(&self) -> usize {
        self.map.as_ref().map_or(self.heap.len(), |m| m.len)
    }

    /// Whether the buffer holds no value.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values it can hold without growing.
    pub fn capacity(&self) -> usize {
        self.map.as_ref().map_or(self.heap.capacity(), |m| m.cap)
    }

    /// The values.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        match &self.map {
            // SAFETY: the first `len` values of the mapping were written by `extend_from_slice`.
            Some(m) => unsafe { std::slice::from_raw_parts(m.ptr, m.len) },
            None => &self.heap,
        }
    }

    /// Appends `vals`, growing (at least doubling) when full.
    ///
    /// # Panics
    /// Only where `Vec` would: when memory runs out while growing (call [`BigVec::try_reserve`]
    /// first to get an error instead).
    #[inline]
    pub fn extend_from_slice(&mut self, vals: &[T]) {
        if let Some(m) = &mut self.map
            && m.cap - m.len >= vals.len()
        {
            // SAFETY: room for `vals.len()` more values after `len` (checked just above); the
            // mapping and `vals` cannot overlap (the mapping is private to this buffer).
            unsafe {
                std::ptr::copy_nonoverlapping(vals.as_ptr(), m.ptr.add(m.len), vals.len());
            }
            m.len += vals.len();
            return;
        }
        if self.map.is_none() && self.heap.capacity() - self.heap.len() >= vals.len() {
            self.heap.extend_from_slice(vals);
            return;
        }
        if self.try_reserve(vals.len()).is_err() {
            panic!("BigVec: out of memory for {} more values", vals.len());
        }
        self.extend_from_slice(vals);
    }

    /// Hints the CPU to fetch the cache lines that the next `count` appended values will occupy
    /// (within the capacity), so that a later [`BigVec::extend_from_slice`] does not wait for
    /// them. No effect on the contents, nor on untouched pages (a prefetch never faults).
    #[inline]
    pub fn prefetch_append(&self, count: usize) {
        #[cfg(target_arch = "x86_64")]
        if let Some(m) = &self.map {
            let n = count.min(m.cap - m.len) * std::mem::size_of::<T>();
            // SAFETY: `len + count ≤ cap` stays inside the mapping; PREFETCHT0 is part of SSE,
            // which every x86-64 CPU has, and only hints.
            unsafe {
                let start = m.ptr.add(m.len).cast::<i8>();
                for off in (0..n).step_by(64) {
                    std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                        start.add(off),
                    );
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = count;
    }

    /// Makes room for `additional` more values (at least doubling the capacity when it grows).
    ///
    /// # Errors
    /// The system's refusal (too large for the address space or the machine).
    pub fn try_reserve(
        &mut self,
        additional: usize,
    ) -> Result<(), std::collections::TryReserveError> {
        let len = self.len();
        if self.capacity() - len >= additional {
            return Ok(());
        }
        let want = len
            .saturating_add(additional)
            .max(self.capacity().saturating_mul(2));
        let size = std::mem::size_of::<T>().max(1);
        if cfg!(target_os = "linux") && want.saturating_mul(size) >= BIG_MIN_BYTES {
            // the exact size if the doubling is what does not fit
            let m = Mapping::new(want).or_else(|| Mapping::new(len.saturating_add(additional)));
            if let Some(mut m) = m {
                let old = self.as_slice();
                // SAFETY: the new mapping has room for `cap ≥ len` values and is disjoint from
                // the old storage.
                unsafe { std::ptr::copy_nonoverlapping(old.as_ptr(), m.ptr, old.len()) };
                m.len = old.len();
                self.heap = Vec::new();
                self.map = Some(m);
                return Ok(());
            }
        }
        if self.map.is_none() {
            return self
                .heap
                .try_reserve_exact(want - len)
                .or_else(|_| self.heap.try_reserve_exact(additional));
        }
        // a mapped buffer the system will not grow: `Vec`'s own error for the request
        Vec::<T>::new().try_reserve_exact(usize::MAX)
    }
}

impl<T> Mapping<T> {
    /// A fresh anonymous mapping for `cap` values, its start aligned to [`HUGE_PAGE`]; `None` if
    /// the system refuses.
    #[cfg(target_os = "linux")]
    fn new(cap: usize) -> Option<Self> {
        let size = std::mem::size_of::<T>().max(1);
        let mut need = cap.checked_mul(size)?;
        // a partly used last huge page costs fewer faults than its 4 KiB pages: round up to
        // whole huge pages where that adds at most 1/7 (the room is usable capacity; a buffer of
        // at least `BIG_MIN_BYTES` always fills one huge page)
        let whole = need.checked_next_multiple_of(HUGE_PAGE)?;
        if whole - need <= need / 7 {
            need = whole;
        }
        let cap = need / size;
        let bytes = need.checked_add(HUGE_PAGE)?;
        // SAFETY: an anonymous private mapping with no address hint; checked for MAP_FAILED.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return None;
        }
        let start = (base as usize).div_ceil(HUGE_PAGE) * HUGE_PAGE;
        let ptr = start as *mut T;
        // SAFETY: advisory call on a range inside the mapping just made.
        unsafe {
            libc::madvise(
                start as *mut libc::c_void,
                need.div_ceil(4096) * 4096,
                libc::MADV_HUGEPAGE,
            )
        };
        Some(Mapping {
            base: base.cast(),
            bytes,
            ptr,
            len: 0,
            cap,
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn new(_cap: usize) -> Option<Self> {
        None
    }
}

impl<T> Drop for Mapping<T> {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        // SAFETY: unmaps exactly the mapping made in `Mapping::new`, owned by `self` alone.
        unsafe {
            libc::munmap(self.base.cast(), self.bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_filled_allocates_or_errs() {
        let v = super::try_filled(1000usize, 7u32).unwrap();
        assert_eq!(v.len(), 1000);
        assert!(v.iter().all(|&x| x == 7));
        assert!(super::try_filled(usize::MAX / 4, 0u64).is_err());
        assert!(super::try_with_capacity::<f64>(usize::MAX / 4).is_err());
        assert_eq!(super::try_with_capacity::<f64>(10).unwrap().capacity(), 10);
    }

    #[test]
    fn big_vec_grows_keeps_contents_and_maps_large_buffers() {
        let mut v: BigVec<u64> = BigVec::new();
        assert!(v.is_empty() && v.capacity() == 0);
        for i in 0..1000u64 {
            v.extend_from_slice(&[i, i + 1]);
        }
        assert_eq!(v.len(), 2000);
        // past the huge-page threshold: moved into a mapping, contents kept
        v.try_reserve(1 << 20).unwrap();
        assert!(v.capacity() >= 2000 + (1 << 20));
        let cap = v.capacity();
        assert_eq!(v.map.is_some(), cfg!(target_os = "linux"));
        for i in 0..(1u64 << 20) {
            v.extend_from_slice(&[i]);
        }
        assert_eq!(v.capacity(), cap, "no regrowth within the reserved room");
        let s = v.as_slice();
        assert_eq!(s.len(), 2000 + (1 << 20));
        assert!((0..1000).all(|i| s[2 * i] == i as u64 && s[2 * i + 1] == i as u64 + 1));
        assert!((0..1u64 << 20).all(|i| s[2000 + i as usize] == i));
        // growing a full mapping by appending alone (doubling, contents kept)
        let extra = vec![7u64; cap - v.len() + 5];
        v.extend_from_slice(&extra);
        assert!(
            v.capacity() >= 2 * cap && v.as_slice()[2000] == 0 && v.as_slice()[v.len() - 1] == 7
        );
        // an impossible request is an error, not an abort, and leaves the contents alone
        let len = v.len();
        assert!(v.try_reserve(usize::MAX / 2).is_err());
        assert_eq!(v.len(), len);
        let mut w: BigVec<u8> = BigVec::new();
        w.extend_from_slice(&[1, 2, 3]);
        assert!(w.try_reserve(usize::MAX / 2).is_err());
        assert_eq!(w.as_slice(), [1, 2, 3]);
        let b: Vec<f64> = with_capacity_huge(1 << 19);
        assert!(b.capacity() >= 1 << 19 && b.is_empty());
    }
}
