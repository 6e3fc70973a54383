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

/// Bytes of heap currently allocated by the whole process, as counted by [`Counting`].
pub fn heap_in_use() -> usize {
    IN_USE.load(Ordering::Relaxed)
}

/// The checkers' memory probe: the larger of the heap counted by [`Counting`] and the
/// process's resident memory as last read (at most once a millisecond, [`resident`]).
///
/// The counter alone misses what the allocator holds but does not hand out: a model whose
/// states grow (kv's texts, a few kilobytes longer at each step) leaves freed blocks too small
/// for the next state, and on such a history the resident memory ran 30 % past the counted
/// heap — and past `--memory-limit`. The resident size is what the limit promises to bound.
pub fn in_use() -> usize {
    heap_in_use().max(resident())
}

/// The process's resident memory (bytes) from `/proc/self/statm`, read again when the last
/// reading is over a millisecond old (a read costs a few microseconds; the probe is called
/// every few dozen search steps). 0 where it cannot be read.
fn resident() -> usize {
    use std::sync::atomic::AtomicU64;
    use std::sync::OnceLock;
    use std::time::Instant;
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    static READ_AT: AtomicU64 = AtomicU64::new(0);
    static RESIDENT: AtomicUsize = AtomicUsize::new(0);
    let now = EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64 + 1_000;
    let at = READ_AT.load(Ordering::Relaxed);
    if now.saturating_sub(at) >= 1_000
        && READ_AT
            .compare_exchange(at, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        RESIDENT.store(read_resident().unwrap_or(0), Ordering::Relaxed);
    }
    RESIDENT.load(Ordering::Relaxed)
}

/// The resident set size now, in bytes (`/proc/self/statm`'s second field counts pages).
fn read_resident() -> Option<usize> {
    use std::io::Read;
    let mut buf = [0u8; 128];
    let mut f = std::fs::File::open("/proc/self/statm").ok()?;
    let n = f.read(&mut buf).ok()?;
    let text = std::str::from_utf8(&buf[..n]).ok()?;
    let pages: usize = text.split_ascii_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(
        pages
            * usize::try_from(page)
                .ok()
                .filter(|&p| p > 0)
                .unwrap_or(4096),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_allocation_is_counted_and_given_back() {
        let before = heap_in_use();
        let v: Vec<u8> = Vec::with_capacity(64 << 20);
        // Other test threads allocate too, so compare with generous margins.
        assert!(heap_in_use() >= before + (60 << 20));
        drop(v);
        assert!(heap_in_use() < before + (32 << 20));
    }

    #[test]
    fn the_probe_sees_resident_memory_the_heap_counter_does_not() {
        // Pages touched outside the counting allocator: resident, never in the heap count.
        let len = 64 << 20;
        // SAFETY: an anonymous private mapping, written within its length, then unmapped.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            std::ptr::write_bytes(p.cast::<u8>(), 1, len);
            std::thread::sleep(std::time::Duration::from_millis(5));
            let seen = in_use();
            libc::munmap(p, len);
            assert!(
                seen >= len,
                "the probe saw {seen} bytes with 64 MiB resident"
            );
        }
    }
}
