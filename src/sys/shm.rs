//! Memory shared between the master and every process it forks: an anonymous `MAP_SHARED`
//! mapping (no file), inherited by each fork, so a write on one side is seen on the other.

use std::io;
use std::ptr::NonNull;

/// Types for which all-zero bytes are a valid value, such as structs of atomics.
///
/// # Safety
/// All-zero bytes must be a valid `Self`, and `Self` must be sound to share between processes
/// through plain memory (no pointers, no locks that live elsewhere).
pub unsafe trait Zeroed {}

/// An array of `T` in shared memory, zero-filled at first. Pages are only backed once touched.
pub struct Shared<T: Zeroed> {
    ptr: NonNull<T>,
    len: usize,
}

impl<T: Zeroed> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("len", &self.len).finish()
    }
}

impl<T: Zeroed> Shared<T> {
    /// Maps `len` zeroed values.
    ///
    /// # Errors
    /// When the system refuses the mapping.
    pub fn new(len: usize) -> io::Result<Self> {
        // SAFETY: an anonymous shared mapping with no address hint; the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                Self::bytes(len),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANON,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Shared { ptr: NonNull::new(ptr.cast()).expect("mmap returned null"), len })
    }

    fn bytes(len: usize) -> usize {
        (len * std::mem::size_of::<T>()).max(1)
    }

    /// Element `i`.
    pub fn get(&self, i: usize) -> &T {
        assert!(i < self.len);
        // SAFETY: in bounds; the mapping is zero-filled, which `Zeroed` makes a valid `T`;
        // page-aligned hence aligned for `T` (alignments above a page are not used here); it
        // lives as long as `self`.
        unsafe { &*self.ptr.as_ptr().add(i) }
    }
}

impl<T: Zeroed> Drop for Shared<T> {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping `new` made; no reference outlives `self`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), Self::bytes(self.len)) };
    }
}
