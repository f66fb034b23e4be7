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
use crate::handle::{self, storage_t, Store, FREED, LIVE};
use crate::types::{
    storage_event_t, storage_option_t, storage_options_t, storage_progress_t, STORAGE_CURSOR_SIZE,
};
use std::ffi::{c_char, c_void, CStr};
use std::marker::PhantomData;
use std::mem::size_of;
use std::ptr::NonNull;
use std::sync::atomic::Ordering;

/// Longest length a Rust slice may have.
const MAX_LEN: usize = isize::MAX as usize;

/// `size_of::<storage_options_t>()` in ABI version 1: the smallest
/// `struct_size` a caller can have compiled against.
pub(crate) const OPTIONS_V1_SIZE: usize = 56;

/// Largest `struct_size` accepted (a sanity bound against garbage).
pub(crate) const OPTIONS_MAX_SIZE: usize = 4096;

/// `size_of::<storage_options_t>()` since the durable-store fields
/// (`backend` to `extra_options_len`) were added at its end.
pub(crate) const OPTIONS_V2_SIZE: usize = 104;

const _: () = assert!(size_of::<storage_options_t>() == OPTIONS_V2_SIZE);

/// The header a handle pointer points to, in whatever state.
fn header(p: *mut storage_t) -> Result<&'static storage_t, Failure> {
    // SAFETY: a non-NULL handle pointer came from `into_handle`, which only
    // hands out headers that are never deallocated (`handle::new_header`
    // leaks them; `storage_free` retires them to a quarantine and they are
    // reused, never freed), so it points to a valid `storage_t` for the
    // rest of the process, live or freed. `storage_t` is Sync (two atomics).
    // A pointer that never came from `into_handle` is outside the header's
    // contract and not detected.
    unsafe { p.cast_const().as_ref() }.ok_or_else(|| Failure::null("storage"))
}

/// The store behind a live handle pointer.
///
/// # Errors
/// `STORAGE_NULL_POINTER` for NULL; `STORAGE_MISUSE` for a handle that was
/// freed.
pub(crate) fn handle<'a>(p: *mut storage_t) -> Result<&'a Store, Failure> {
    let header = header(p)?;
    if header.state.load(Ordering::Acquire) != LIVE {
        return Err(Failure::misuse(
            "`storage` was freed: storage_free() was called on this handle before",
        ));
    }
    let store = header.store.load(Ordering::Acquire);
    // SAFETY: a LIVE header points to the `Box<Store>` that `into_handle`
    // made, and only `free_handle` drops it, after marking the header FREED;
    // storage_free() must not race with other calls on the handle (the
    // header's contract), so the box outlives this call. `Store` is Sync.
    unsafe { store.cast_const().as_ref() }.ok_or_else(|| {
        Failure::misuse("`storage` was freed: storage_free() was called on this handle before")
    })
}

/// Hands a new store to C: the pointer to a live header over it.
pub(crate) fn into_handle(store: Box<Store>) -> *mut storage_t {
    std::ptr::from_ref(handle::new_header(Box::into_raw(store))).cast_mut()
}

/// Takes a handle back from C and drops its store; NULL is ignored.
///
/// # Errors
/// `STORAGE_MISUSE`, and nothing is freed, for a handle that was freed
/// already, or when a callback of this handle is running on this thread.
pub(crate) fn free_handle(p: *mut storage_t) -> Result<(), Failure> {
    if p.is_null() {
        return Ok(());
    }
    let header = header(p)?;
    let store = header.store.load(Ordering::Acquire);
    if header.state.load(Ordering::Acquire) == LIVE && handle::in_callback_of(store) {
        return Err(Failure::misuse(
            "storage_free() was called from inside a callback of the same handle; \
             the handle was not freed",
        ));
    }
    if header
        .state
        .compare_exchange(LIVE, FREED, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return Err(Failure::misuse(
            "storage_free() was called on a handle that was already freed; nothing was done",
        ));
    }
    let store = header.store.swap(std::ptr::null_mut(), Ordering::AcqRel);
    if !store.is_null() {
        // SAFETY: `store` came from `Box::into_raw` in `into_handle`; the
        // state change above made this the one call that takes it back, and
        // storage_free() must not race with other calls on the handle, so
        // no reference to it outlives this.
        drop(unsafe { Box::from_raw(store) });
    }
    handle::retire(header);
    Ok(())
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

/// Reads a caller's `storage_options_t` of `struct_size` bytes: an older
/// struct (ABI 1's first version, [`OPTIONS_V1_SIZE`]) gets zeros (defaults)
/// for the fields it lacks, any other size below ours is refused, longer
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
    if size < ours && size != OPTIONS_V1_SIZE {
        return Err(Failure::invalid(format!(
            "options.struct_size is {size}, the size of no version of storage_options_t \
             ({OPTIONS_V1_SIZE} or {ours} and up); set it to sizeof(storage_options_t)"
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
    // `options`; the regions are distinct; every field is an integer or a
    // raw pointer, so any bytes make a valid value (the pointers are only
    // dereferenced through `text` and `option_list`, which check them).
    unsafe {
        std::ptr::copy_nonoverlapping(
            p.cast::<u8>(),
            std::ptr::from_mut(&mut options).cast::<u8>(),
            known,
        );
    }
    Ok(options)
}

/// Optional NUL-terminated UTF-8 text at `p` (a `const char *` field of
/// the options): `None` for NULL.
///
/// # Errors
/// `STORAGE_INVALID_ARGUMENT` naming `what` when the text is not UTF-8.
pub(crate) fn text_opt<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>, Failure> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL; the caller promises a NUL-terminated string that
    // nobody writes during the call (the header's rule for the options'
    // strings); it is only read up to its NUL.
    let text = unsafe { CStr::from_ptr(p) };
    text.to_str().map(Some).map_err(|e| {
        Failure::invalid(format!(
            "`{what}` is not valid UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })
}

/// Required NUL-terminated UTF-8 text at `p`.
///
/// # Errors
/// `STORAGE_NULL_POINTER` for NULL, else as [`text_opt`].
pub(crate) fn text<'a>(p: *const c_char, what: &str) -> Result<&'a str, Failure> {
    text_opt(p, what)?.ok_or_else(|| Failure::null(what))
}

/// The caller's array of `len` options by name (NULL allowed when `len`
/// is 0).
pub(crate) fn option_list<'a>(
    p: *const storage_option_t,
    len: usize,
) -> Result<&'a [storage_option_t], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Failure::null("options.extra_options"));
    }
    if !p.is_aligned() {
        return Err(Failure::invalid(
            "`options.extra_options` is not aligned for storage_option_t",
        ));
    }
    if len > MAX_LEN / size_of::<storage_option_t>() {
        return Err(Failure::invalid(format!(
            "options.extra_options_len {len} is larger than any array can be"
        )));
    }
    // SAFETY: non-NULL, aligned, and `len` elements fit in isize::MAX bytes
    // (checked above); the caller promises `len` readable entries that
    // nobody writes during the call; two raw pointers are valid for any
    // bytes.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
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

/// A file path given as NUL-terminated text (`const char *path`): any
/// bytes but NUL on Unix (as `open(2)` takes them), UTF-8 elsewhere.
///
/// # Errors
/// `STORAGE_NULL_POINTER` for NULL; `STORAGE_INVALID_ARGUMENT` for an empty
/// path, or on other systems than Unix for one that is not UTF-8.
pub(crate) fn path<'a>(p: *const c_char, what: &str) -> Result<&'a std::path::Path, Failure> {
    if p.is_null() {
        return Err(Failure::null(what));
    }
    // SAFETY: non-NULL (checked above); the caller promises a NUL-terminated
    // string that nobody writes during the call (the header's rule for
    // `path` parameters).
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    if bytes.is_empty() {
        return Err(Failure::invalid(format!("`{what}` is empty")));
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(std::path::Path::new(std::ffi::OsStr::from_bytes(bytes)))
    }
    #[cfg(not(unix))]
    {
        std::str::from_utf8(bytes)
            .map(std::path::Path::new)
            .map_err(|_| Failure::invalid(format!("`{what}` is not valid UTF-8")))
    }
}

/// A registered progress callback.
pub(crate) type ProgressCallback = unsafe extern "C" fn(*const storage_progress_t, *mut c_void);

/// Calls a C progress callback with `progress`.
pub(crate) fn call_progress(
    callback: ProgressCallback,
    progress: &storage_progress_t,
    user_data: UserData,
) {
    // SAFETY: `callback` is a non-NULL function pointer the caller passed
    // with exactly this signature; `progress` lives until the call returns;
    // the contract requires the callback to return normally.
    unsafe { callback(progress, user_data.0) }
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
}
