//! The library half of the `aftersale` command line: the streaming batch pipeline, shared by
//! the binary and the benchmarks. Threads, files and terminals live here, never in the core.

pub mod stream;
