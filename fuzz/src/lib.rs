//! What every fuzz target shares: the heap bound, and wrappers that let libFuzzer mutate the
//! text inside a compressed or encoded format (coverage-guided mutation cannot get through a
//! deflate stream or base64 on its own).

#![forbid(unsafe_code)]

use std::io::Write;

use cap::Cap;

/// The most a target may hold on the heap at once. Every parser caps what it allocates from
/// sizes an input declares (the largest: 64 MiB of inflated archive, 128 MiB for one decoded
/// image, which its conversions copy); an input that makes one allocate past this aborts and is
/// reported as a crash.
pub const HEAP_LIMIT_BYTES: usize = 512 * 1024 * 1024;

#[global_allocator]
static ALLOCATOR: Cap<std::alloc::System> = Cap::new(std::alloc::System, HEAP_LIMIT_BYTES);

/// The heap held now (for a target that checks nothing leaks between runs).
pub fn heap_in_use() -> usize {
    ALLOCATOR.allocated()
}

/// Splits the first byte off as a mode selector: one target can then fuzz both the raw format
/// and the text inside its wrapper.
pub fn mode(data: &[u8]) -> Option<(u8, &[u8])> {
    data.split_first().map(|(m, rest)| (*m, rest))
}

/// `bytes` gzip'd (the IDX files are `.gz`).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = z.write_all(bytes);
    z.finish().unwrap_or_default()
}

/// `bytes` raw-deflated (a permalink's payload).
pub fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = z.write_all(bytes);
    z.finish().unwrap_or_default()
}
