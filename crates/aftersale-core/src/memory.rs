//! Memory accounting for `[limits] max_memory_bytes`: a per-thread count of the bytes a thread
//! holds, which a counting global allocator keeps and the sandbox reads.
//!
//! rhai measures a value's size only at some of the places a value can grow: `m[k] = v` adds
//! keys to a map without looking at `max_map_size`, and `o[i] = big` stores a large value in
//! a slot without measuring the outer container, so a loop could build hundreds of megabytes
//! before any operation or time limit stopped it. Bytes held are the measure that sees every
//! path, but only the process's global allocator can count them, and installing one is the
//! binary's decision (and needs `unsafe`, which the core forbids). So the core keeps the
//! count and the allocator reports to it: [`record`] on every allocation and free. Each
//! evaluation reads [`held`] when it starts, and the sandbox stops a script, with an error
//! naming `max_memory_bytes`, once its thread holds more than that many bytes beyond it.
//!
//! The `aftersale` binary installs such an allocator (`aftersale-alloc`). A library host that
//! installs none keeps every other limit, but nothing is counted: `max_memory_bytes` is then
//! not enforced.
//!
//! The count lives in the sandbox's per-thread meter, beside the operation count the sandbox
//! reads at every operation: a `thread_local!` with a `const` initialiser and no destructor,
//! so an allocator can update it without allocating (which would recurse) up to the thread's
//! very end, and the sandbox reads both with one thread-local access.

/// Adds `delta` bytes to what the calling thread holds: a counting global allocator calls it
/// with the size of every block it allocates, minus the size of every block it frees (the
/// difference of a reallocation). Never allocates, never panics.
#[inline]
pub fn record(delta: isize) {
    crate::sandbox::record_memory(delta);
}

/// Bytes the calling thread holds by [`record`]'s count since it started (0 when nothing
/// counts; negative when it freed blocks other threads allocated).
#[inline]
pub fn held() -> isize {
    crate::sandbox::memory_held()
}
