//! kiln-sim: deterministic simulation of the Kiln storage engine.
//!
//! From one seed: a scenario's ranges are drawn into a run configuration (swarm testing),
//! a plan of steps is generated, and the runner executes it against the engine on a
//! simulated disk that crashes, tears writes, fails syncs and flips bits, recovering after
//! every crash and checking every invariant against a reference model. A run is a pure
//! function of (seed, scenario, binary): the trace hash proves it.
//!
//! The core (disk, clock, seeds, model, plans, runner) builds without madsim, so fuzz
//! targets can use it; the concurrent actors in [`actors`] run on madsim.
#![forbid(unsafe_code)]

#[cfg(madsim)]
pub mod actors;
pub mod artifact;
pub mod clock;
pub mod ddl_model;
pub mod disk;
pub mod fuzzing;
pub mod model;
mod ops;
pub mod plan;
pub mod runner;
pub mod scenario;
pub mod seed;
pub mod trace;

/// Whether this build has the madsim configuration flag (`--cfg madsim`, set by
/// `.cargo/config.toml`). A `RUSTFLAGS` environment variable silently replaces config
/// rustflags; the guard test uses this to fail loudly when that happens.
pub fn built_with_madsim() -> bool {
    cfg!(madsim)
}

/// Test-only engine bugs the simulator must catch, by name.
pub const PLANTED_BUGS: &[&str] = &[
    "ack-before-fsync",
    "skip-page-crc",
    "leave-dependent-behind",
    "manifest-before-images",
    "reuse-id-after-crash",
];

/// Builds the engine's planted-bug switches from names.
pub fn planted_bugs(names: &[String]) -> Result<kiln::PlantedBugs, String> {
    let mut planted = kiln::PlantedBugs::default();
    for name in names {
        match name.as_str() {
            "ack-before-fsync" => planted.ack_before_fsync = true,
            "skip-page-crc" => planted.skip_page_crc = true,
            "leave-dependent-behind" => planted.leave_dependent_behind = true,
            "manifest-before-images" => planted.manifest_before_images = true,
            "reuse-id-after-crash" => planted.reuse_id_after_crash = true,
            other => {
                return Err(format!(
                    "unknown planted bug {other:?}; known: {}",
                    PLANTED_BUGS.join(", ")
                ))
            }
        }
    }
    Ok(planted)
}
