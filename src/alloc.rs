//! The counting global allocator: how `--memory-limit` sees every byte a check allocates.
//!
//! The checkers crate is pure and cannot measure the process's heap; this binary wraps the
//! system allocator and keeps one relaxed atomic counter of the bytes currently allocated.
//! [`in_use`] is handed to the checkers as their memory probe (`memory_in_use` in
//! `checkers::CheckOptions`, turned into the check's `checkers::Budget`), which they
//! compare with the budget at each budget checkpoint of the check step (search, shrinking,
//! graph search), so any state a model or checker builds — memo arenas, `Vec` states of set
//! and queue models, dependency graphs — counts. The cost is one relaxed `fetch_add` or
//! `fetch_sub` per allocation (measured in docs/reliability.md, "Budgets").
//!
//! Each allocation is counted at the size the system allocator really takes for it
//! ([`charged`]: glibc's 8-byte header, 16-byte rounding and 32-byte minimum), not the size
//! asked for: a history of millions of small strings and maps costs about twice what it asks,
//! and a budget that counted only the asked bytes let the resident memory run past it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes currently allocated through [`Counting`].
static IN_USE: AtomicUsize = AtomicUsize::new(0);

/// The bytes the system allocator takes for an allocation of `size` bytes (glibc's chunk
/// size: the size plus an 8-byte header, rounded up to 16, at least 32).
#[inline]
fn charged(size: usize) -> usize {
    (size.saturating_add(8 + 15) & !15).max(32)
}

/// The system allocator, counting the bytes in use.
pub struct Counting;

// SAFETY: every call is forwarded unchanged to `System`, which upholds `GlobalAlloc`'s
// contract; the counter is only bookkeeping and never affects what is returned.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            IN_USE.fetch_add(charged(layout.size()), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            IN_USE.fetch_add(charged(layout.size()), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        IN_USE.fetch_sub(charged(layout.size()), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            let (old, new) = (charged(layout.size()), charged(new_size));
            if new >= old {
                IN_USE.fetch_add(new - old, Ordering::Relaxed);
            } else {
                IN_USE.fetch_sub(old - new, Ordering::Relaxed);
            }
        }
        p
    }
}

/// Bytes of heap currently allocated by the whole process (the checkers' memory probe).
pub fn in_use() -> usize {
    IN_USE.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_allocation_is_counted_and_given_back() {
        let before = in_use();
        let v: Vec<u8> = Vec::with_capacity(64 << 20);
        // Other test threads allocate too, so compare with generous margins.
        assert!(in_use() >= before + (60 << 20));
        drop(v);
        assert!(in_use() < before + (32 << 20));
    }
}
