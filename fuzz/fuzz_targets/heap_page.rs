//! Fuzz target `heap_page`: the body, its goal and what it does not cover are in
//! `kiln_sim::fuzzing::heap_page`, so that `cargo test` replays the corpus on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kiln_sim::fuzzing::heap_page(data));
