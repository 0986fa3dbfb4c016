//! vitscape: loss landscapes of Vision Transformers (supervised, MAE, RC-MAE).
//!
//! The core (everything in this library) is target-neutral: it builds for native and wasm32 and is
//! tested natively on burn's CPU backend. See `ARCHITECTURE.md` for the tree.
//!
//! burn is behind the `engine` feature (on by default). Everything that evaluates a model needs
//! it: `model`, `objective`, `setup`, `job`, `train`, the cell loop and the Hessian. The page is
//! built without it (`--no-default-features --features page`), so a change that would pull burn
//! into the page does not compile.
#![forbid(unsafe_code)]

pub mod arch;
#[cfg(not(target_arch = "wasm32"))]
pub mod atomic;
pub mod checkpoint;
pub mod connect;
pub mod curvature;
pub mod data;
pub mod demo;
pub mod directions;
pub mod error;
pub mod inspect;
#[cfg(feature = "engine")]
pub mod job;
pub mod layout;
mod linalg;
pub mod metrics;
#[cfg(feature = "engine")]
pub mod model;
#[cfg(feature = "engine")]
pub mod objective;
#[cfg(feature = "engine")]
pub mod optim;
pub mod permalink;
pub mod plot;
pub mod preview;
pub mod protocol;
#[cfg(feature = "engine")]
pub mod setup;
pub mod spec;
pub mod surface;
pub mod sweep;
#[cfg(all(feature = "engine", not(target_arch = "wasm32")))]
pub mod train;
pub mod trajectory;
pub mod verdict;
#[cfg(all(target_arch = "wasm32", any(feature = "page", feature = "worker")))]
pub mod web;

/// This crate's version, recorded in every output.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
