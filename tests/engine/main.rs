//! The engine's integration tests, in one test binary so that burn is linked once: each module is
//! one area (reference parity, invariants, the CLI, checkpoints, training, the demo, metrics,
//! curvature, permalinks, jobs). The browser tests are `tests/browser.rs`.

mod common;

mod arch;
mod checkpoint_errors;
mod cli;
mod connect;
mod curvature;
mod demo;
mod directions;
mod faults;
mod figure;
mod invariants;
mod job;
mod metrics;
mod permalink;
mod pth;
mod reference_parity;
mod respec;
mod rgb224;
mod shards;
mod slurm;
mod train;
mod trajectory;
mod verdict;
