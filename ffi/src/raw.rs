//! The only module with `unsafe` (rustls-ffi style): here, and nowhere
//! else, raw pointers from C become references, slices and out-parameters,
//! the handle box is created and destroyed, and C callbacks are called.
//! Every helper checks for NULL (and alignment, sizes and overlap where they
//! matter) before it touches memory; what it cannot check is the C caller's
//! side of the contract that `include/topgun_storage.h` states: a non-NULL
//! pointer points to as many valid bytes as its length says, for the
//! duration of the call, and a handle is live (not yet freed).

#![allow(unsafe_code)]

use crate::error::Failure;
use crate::handle::storage_t;
use crate::types::{storage_event_t, storage_options_t, STORAGE_CURSOR_SIZE};
use std::ffi::{c_char, c_void};
use std::marker::PhantomData;
use std::mem::size_of;
use std::ptr::NonNull;

/// Longest length a Rust slice may have.
const MAX_LEN: usize = isize::MAX as usize;

/// `size_of::<storage_options_t>()` in ABI version 1: the smallest
/// `struct_size` a caller can have compiled against.
pub(crate) const OPTIONS_V1_SIZE: usize = 56;

/// Largest `struct_size` accepted (a sanity bound against garbage).
pub(crate) const OPTIONS_MAX_SIZE: usize = 4096;

const _: () = assert!(size_of::<storage_options_t>() >= OPTIONS_V1_SIZE);

/// The store behind a handle pointer.
pub(crate) fn handle<'a>(p: *mut storage_t) -> Result<&'a storage_t, Failure> {
    // SAFETY: a non-NULL handle was made by `into_handle` (a leaked Box) and
    // by the API contract has not been passed to storage_free(), which must
    // not race with other calls; `storage_t` is Sync, so shared references
    // on many threads at once are sound.
    unsafe { p.cast_const().as_ref() }.ok_or_else(|| Failure::null("storage"))
}

/// Hands a new store to C.
pub(crate) fn into_handle(storage: Box<storage_t>) -> *mut storage_t {
    Box::into_raw(storage)
}

/// Takes a handle back from C and drops it; NULL is ignored.
pub(crate) fn free_handle(p: *mut storage_t) {
    if p.is_null() {
        return;
    }
    // SAFETY: `p` came from `into_handle` (Box::into_raw); the contract of
    // storage_free() is that it is called once per handle, after every
    // other call on the handle has returned, so no reference outlives this.
    drop(unsafe { Box::from_raw(p) });
}

fn check_len(len: usize, what: &str) -> Result<(), Failure> {
    if len > MAX_LEN {
        return Err(Failure::invalid(format!(
            "`{what}` length {len} is larger than any object can be"
        )));
    }
    Ok(())
}

/// `len` input bytes at `p` (NULL is an error, even for length 0).
pub(crate) fn input<'a>(p: *const u8, len: usize, what: &str) -> Result<&'a [u8], Failure> {
    if p.is_null() {
        return Err(Failure::null(what));
    }
    check_len(len, what)?;
    // SAFETY: non-NULL and `len <= isize::MAX` checked above; u8 needs no
    // alignment; the caller promises `len` readable bytes that nobody
    // writes during the call (the header's rule for every input buffer).
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// `len` input bytes of text at `p` (a `const char *`).
pub(crate) fn input_text<'a>(
    p: *const c_char,
    len: usize,
    what: &str,
) -> Result<&'a [u8], Failure> {
    input(p.cast(), len, what)
}

/// A key: `len` bytes of UTF-8 at `p`.
pub(crate) fn key<'a>(p: *const c_char, len: usize) -> Result<&'a str, Failure> {
    let bytes = input_text(p, len, "key")?;
    std::str::from_utf8(bytes).map_err(|e| {
        Failure::new(
            crate::types::storage_status_t::STORAGE_INVALID_UTF8,
            format!(
                "`key` is not valid UTF-8 (invalid byte at offset {})",
                e.valid_up_to()
            ),
        )
    })
}

fn overlaps(a: usize, a_len: usize, b: usize, b_len: usize) -> bool {
    a_len > 0 && b_len > 0 && a < b.saturating_add(b_len) && b < a.saturating_add(a_len)
}

/// An output buffer of `capacity` bytes at `p`. NULL with capacity 0 is an
/// empty buffer (a size query); NULL with a capacity is an error. The buffer
/// must not overlap any of `inputs` (the other buffers of the same call).
pub(crate) fn output<'a>(
    p: *mut u8,
    capacity: usize,
    what: &str,
    inputs: &[&[u8]],
) -> Result<&'a mut [u8], Failure> {
    if p.is_null() {
        if capacity == 0 {
            return Ok(&mut []);
        }
        return Err(Failure::null(what));
    }
    check_len(capacity, what)?;
    if inputs
        .iter()
        .any(|i| overlaps(p as usize, capacity, i.as_ptr() as usize, i.len()))
    {
        return Err(Failure::invalid(format!(
            "`{what}` overlaps another buffer argument of the same call"
        )));
    }
    // SAFETY: non-NULL, `capacity <= isize::MAX`, u8 needs no alignment, no
    // overlap with the call's other slices (checked above); the caller
    // promises `capacity` writable bytes that nothing else touches during
    // the call. The library only writes through this slice (bytes it reads
    // back were written by itself first).
    Ok(unsafe { std::slice::from_raw_parts_mut(p, capacity) })
}

/// An output buffer for text (`char *`); see [`output`].
pub(crate) fn output_text<'a>(
    p: *mut c_char,
    capacity: usize,
    what: &str,
    inputs: &[&[u8]],
) -> Result<&'a mut [u8], Failure> {
    output(p.cast(), capacity, what, inputs)
}

/// The caller's `STORAGE_CURSOR_SIZE`-byte cursor buffer, read and
/// advanced in place.
pub(crate) fn cursor<'a>(p: *mut u8) -> Result<&'a mut [u8; STORAGE_CURSOR_SIZE], Failure> {
    let p = NonNull::new(p.cast::<[u8; STORAGE_CURSOR_SIZE]>())
        .ok_or_else(|| Failure::null("cursor"))?;
    // SAFETY: non-NULL; a byte array needs no alignment; the caller
    // promises STORAGE_CURSOR_SIZE readable and writable bytes that nothing
    // else touches during the call (the output buffer is checked against it
    // with `output`'s overlap check).
    Ok(unsafe { &mut *p.as_ptr() })
}

/// An out-parameter: a place the library writes one value to. Never read.
pub(crate) struct Out<'a, T> {
    ptr: NonNull<T>,
    _life: PhantomData<&'a mut T>,
}

impl<T> Out<'_, T> {
    /// Writes `value` (without reading or dropping what was there).
    pub(crate) fn set(&mut self, value: T) {
        // SAFETY: non-NULL and aligned (checked in `out`); the caller
        // promises the pointer is writable for a `T` during the call. Only
        // plain C data (integers, bool, pointers, repr(C) structs of those)
        // goes through here, so not dropping the old contents is right.
        unsafe { self.ptr.as_ptr().write(value) }
    }
}

/// A required out-parameter.
pub(crate) fn out<'a, T>(p: *mut T, what: &str) -> Result<Out<'a, T>, Failure> {
    let ptr = NonNull::new(p).ok_or_else(|| Failure::null(what))?;
    if !p.is_aligned() {
        return Err(Failure::invalid(format!(
            "`{what}` is not aligned for its type"
        )));
    }
    Ok(Out {
        ptr,
        _life: PhantomData,
    })
}

/// An optional out-parameter: `None` for NULL.
pub(crate) fn out_opt<'a, T>(p: *mut T, what: &str) -> Result<Option<Out<'a, T>>, Failure> {
    if p.is_null() {
        return Ok(None);
    }
    out(p, what).map(Some)
}

/// Reads an in/out `size_t` parameter.
pub(crate) fn read_usize(p: *const usize, what: &str) -> Result<usize, Failure> {
    if p.is_null() {
        return Err(Failure::null(what));
    }
    if !p.is_aligned() {
        return Err(Failure::invalid(format!(
            "`{what}` is not aligned for size_t"
        )));
    }
    // SAFETY: non-NULL and aligned (checked above); the caller promises a
    // readable `size_t`; every bit pattern is a valid usize.
    Ok(unsafe { p.read() })
}

/// Reads a caller's `storage_options_t` of `struct_size` bytes: shorter
/// (older) structs get zeros (defaults) for the fields they lack, longer
/// (newer) ones must have zeros in the fields this library does not know.
pub(crate) fn options(p: *const storage_options_t) -> Result<storage_options_t, Failure> {
    if p.is_null() {
        return Err(Failure::null("options"));
    }
    if !p.is_aligned() {
        return Err(Failure::invalid(
            "`options` is not aligned for storage_options_t",
        ));
    }
    // SAFETY: non-NULL and aligned; every version of the struct starts with
    // the `uint32_t struct_size` field, so 4 bytes are readable.
    let size = unsafe { p.cast::<u32>().read() } as usize;
    let ours = size_of::<storage_options_t>();
    if size < OPTIONS_V1_SIZE {
        return Err(Failure::invalid(format!(
            "options.struct_size is {size}; set it to sizeof(storage_options_t) (at least {OPTIONS_V1_SIZE})"
        )));
    }
    if size > OPTIONS_MAX_SIZE {
        return Err(Failure::invalid(format!(
            "options.struct_size is {size}, larger than any storage_options_t ({OPTIONS_MAX_SIZE} at most)"
        )));
    }
    // SAFETY: the caller promises `struct_size` readable bytes at `p`
    // (it is the size of the struct the caller passed); size is bounded.
    let bytes = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), size) };
    if size > ours && bytes[ours..].iter().any(|&b| b != 0) {
        return Err(Failure::invalid(format!(
            "options set fields past byte {ours} that this library version does not know; \
             zero them or use a newer library"
        )));
    }
    let mut options = storage_options_t::default();
    let known = size.min(ours);
    // SAFETY: `known` bytes are readable at `p` (above) and writable in
    // `options`; the regions are distinct; every field is an integer, so
    // any bytes make a valid value.
    unsafe {
        std::ptr::copy_nonoverlapping(
            p.cast::<u8>(),
            std::ptr::from_mut(&mut options).cast::<u8>(),
            known,
        );
    }
    Ok(options)
}

/// The `user_data` pointer of a subscription: never dereferenced by the
/// library, only passed back to the callback.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UserData(pub(crate) *mut c_void);

// SAFETY: storage_subscribe()'s contract makes the caller responsible for
// `user_data` being usable from whichever thread the callback runs on; the
// library itself never reads or writes through it.
unsafe impl Send for UserData {}
// SAFETY: as for Send: the library only copies the pointer value.
unsafe impl Sync for UserData {}

/// A registered C callback.
pub(crate) type Callback = unsafe extern "C" fn(*const storage_event_t, *mut c_void);

/// Calls a C observer callback with `event`.
pub(crate) fn call(callback: Callback, event: &storage_event_t, user_data: UserData) {
    // SAFETY: `callback` is a non-NULL function pointer the caller
    // registered with exactly this signature; `event` and what it points to
    // live until the call returns; the contract requires the callback to
    // return normally (no unwinding or longjmp across this frame).
    unsafe { callback(event, user_data.0) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_rules() {
        assert!(overlaps(10, 5, 14, 1));
        assert!(!overlaps(10, 5, 15, 1));
        assert!(!overlaps(10, 0, 10, 5));
        assert!(overlaps(10, 5, 0, 11));
        assert!(!overlaps(10, 5, 0, 10));
    }

    #[test]
    fn v1_options_size_is_the_struct_size() {
        assert_eq!(size_of::<storage_options_t>(), OPTIONS_V1_SIZE);
    }
}
