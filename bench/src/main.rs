//! `kiln-bench`: see the crate documentation, or `kiln-bench --help`.
#![forbid(unsafe_code)]

fn main() {
    std::process::exit(kiln_bench::cli::main());
}
