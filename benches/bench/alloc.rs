//! Counting allocator: how many allocations a measured loop makes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use libc::c_int;

/// Counts allocations once `COUNTING` is set. Workers and perform children inherit it with the
/// count so far, so a perform that reads `ALLOCS` at two iterations learns what the loop between
/// them allocated.
struct Counting;

pub(crate) static ALLOCS: AtomicU64 = AtomicU64::new(0);
/// Set only for the counting runs: in a forked perform child, the first write to `ALLOCS` would
/// cost a copy-on-write page fault that a program without this allocator does not pay, and the
/// throughput runs must not charge that to the library.
pub(crate) static COUNTING: AtomicBool = AtomicBool::new(false);

fn count_alloc() {
    if COUNTING.load(Relaxed) {
        ALLOCS.fetch_add(1, Relaxed);
    }
}

/// `ALLOCS` as a forked child started with it, set by the fork handler below: what a perform
/// child allocated before `perform` ran is `ALLOCS - FORKED_AT`.
pub(crate) static FORKED_AT: AtomicU64 = AtomicU64::new(0);

// SAFETY: the signature is pthread_atfork(3)'s, which glibc exports; the libc crate does not
// declare it for Linux.
unsafe extern "C" {
    pub(crate) fn pthread_atfork(
        prepare: Option<unsafe extern "C" fn()>,
        parent: Option<unsafe extern "C" fn()>,
        child: Option<unsafe extern "C" fn()>,
    ) -> c_int;
}

pub(crate) extern "C" fn on_fork_child() {
    FORKED_AT.store(ALLOCS.load(Relaxed), Relaxed);
}

// SAFETY: every call is passed on to `System` unchanged; counting only touches an atomic.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_alloc();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_alloc();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_alloc();
        // SAFETY: `ptr` and `layout` come from this allocator, that is from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;
