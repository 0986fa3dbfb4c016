//! vitscape: loss landscapes of Vision Transformers (supervised, MAE, RC-MAE).
//!
//! The core (everything in this library) is target-neutral: it builds for native and wasm32 and is
//! tested natively on burn's CPU backend. See `ARCHITECTURE.md` for one line per module.
#![forbid(unsafe_code)]

pub mod arch;
pub mod checkpoint;
pub mod curvature;
pub mod data;
pub mod demo;
pub mod directions;
pub mod error;
pub mod job;
pub mod metrics;
pub mod model;
pub mod objective;
pub mod permalink;
pub mod plot;
pub mod protocol;
pub mod setup;
pub mod spec;
pub mod surface;
pub mod sweep;
#[cfg(not(target_arch = "wasm32"))]
pub mod train;
pub mod verdict;
#[cfg(all(target_arch = "wasm32", feature = "web"))]
pub mod web;

/// This crate's version, recorded in every output.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
