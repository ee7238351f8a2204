//! # aftersale-alloc
//!
//! [mimalloc](https://github.com/microsoft/mimalloc), reporting every allocation and free to
//! [`aftersale_core::memory::record`]: the per-thread count of bytes held that
//! `[limits] max_memory_bytes` is measured with. A binary installs it in one line:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOCATOR: aftersale_alloc::Counting = aftersale_alloc::Counting;
//! ```
//!
//! Why a crate of its own: it is the one place in the workspace that needs `unsafe`
//! (`GlobalAlloc` is an unsafe trait whose methods take raw pointers), so the rest keeps
//! `unsafe_code = "forbid"`; and the core stays free of any allocator choice: a library host
//! decides for itself whether to count (without it, `max_memory_bytes` is not enforced).
//!
//! Why mimalloc under the count rather than the system allocator: a decision allocates many
//! small, short-lived values (rhai's maps and strings, the decision's JSON), and glibc's
//! malloc spends much of a decision's time on them. With mimalloc a `car-warranty` decision
//! takes about 14% less time, and its trace costs less in proportion (figures in
//! `benches/README.md`). The count is the same whatever allocator is under it.
//!
//! What is counted: every allocation adds its size to the calling thread's count and every
//! free subtracts its size from the freeing thread's; a reallocation adds the difference. So
//! the count is exact for memory a thread both allocates and frees, which is what one
//! evaluation does (an evaluation never moves between threads). A block freed by another
//! thread than the one that allocated it leaves both counts off by its size, which only
//! shifts the origin an evaluation measures from. Cost: one thread-local add per allocation
//! and per free; the count never allocates (see [`aftersale_core::memory`]).

use std::alloc::{GlobalAlloc, Layout};

use mimalloc::MiMalloc;

use aftersale_core::memory::record;

/// The bytes a block of `size` bytes takes, as a signed count: rounded up to the 16 bytes
/// of the allocator's smallest size steps, so that many tiny blocks (the one-byte text of a
/// JSON number, a short string) count what they occupy rather than what was asked (a tree of
/// two million such values held 30 MB more than its requested sizes). `Layout` guarantees
/// sizes up to `isize::MAX`, so the cast is exact (and, unlike a checked conversion, costs no
/// instruction on every call); the rounding cannot overflow below that.
#[inline]
#[allow(
    clippy::cast_possible_wrap,
    reason = "Layout sizes never exceed isize::MAX"
)]
fn signed(size: usize) -> isize {
    (size.max(1).wrapping_add(15) & !15) as isize
}

/// mimalloc, counting each thread's bytes (see the crate doc).
#[derive(Debug, Clone, Copy, Default)]
pub struct Counting;

#[allow(
    unsafe_code,
    reason = "GlobalAlloc is an unsafe trait; each method forwards to mimalloc with the caller's own guarantees"
)]
// SAFETY: every method forwards to `MiMalloc` with exactly the arguments it received, so the
// caller's guarantees (a non-zero-size layout, a pointer this allocator returned with that
// layout) carry over unchanged, and `MiMalloc` upholds the trait's contract. The counting
// beside it touches only a thread-local `Cell`, never allocates and never panics.
unsafe impl GlobalAlloc for Counting {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as received (see the impl).
        let ptr = unsafe { MiMalloc.alloc(layout) };
        if !ptr.is_null() {
            record(signed(layout.size()));
        }
        ptr
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as received (see the impl).
        let ptr = unsafe { MiMalloc.alloc_zeroed(layout) };
        if !ptr.is_null() {
            record(signed(layout.size()));
        }
        ptr
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as received (see the impl).
        unsafe { MiMalloc.dealloc(ptr, layout) };
        record(-signed(layout.size()));
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as received (see the impl).
        let new = unsafe { MiMalloc.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            record(signed(new_size).wrapping_sub(signed(layout.size())));
        }
        new
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use aftersale_core::memory::held;

    use super::*;

    #[global_allocator]
    static ALLOCATOR: Counting = Counting;

    #[test]
    fn a_thread_counts_what_it_holds() {
        std::thread::spawn(|| {
            let before = held();
            let block = vec![0u8; 1 << 20];
            let grown = held() - before;
            assert!(grown >= 1 << 20, "{grown}");
            drop(block);
            assert!(held() - before < 1024);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn growth_by_reallocation_is_counted() {
        std::thread::spawn(|| {
            let before = held();
            let mut v: Vec<u64> = Vec::with_capacity(1);
            for i in 0..100_000 {
                v.push(i);
            }
            let grown = held() - before;
            assert!(grown >= 800_000, "{grown}");
            drop(v);
            assert!(held() - before < 1024);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn other_threads_allocations_are_not_counted() {
        std::thread::spawn(|| {
            let before = held();
            let block = std::thread::spawn(|| vec![0u8; 1 << 20]).join().unwrap();
            assert!(held() - before < 64 * 1024);
            drop(block);
        })
        .join()
        .unwrap();
    }
}
