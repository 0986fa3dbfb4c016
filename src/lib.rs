//! vitscape: loss landscapes of Vision Transformers (supervised, MAE, RC-MAE).
//!
//! The core (everything in this library) is target-neutral: it builds for native and wasm32 and is
//! tested natively on burn's CPU backend. See `ARCHITECTURE.md` for the tree.
//!
//! burn is behind the `engine` feature (on by default). Everything that evaluates a model needs
//! it: `model::Vit`, `landscape::{objective, setup, job}`, `train`, the cell loop and the Hessian. The page is
//! built without it (`--no-default-features --features page`), so a change that would pull burn
//! into the page does not compile.
#![forbid(unsafe_code)]

pub mod connect;
pub mod curvature;
pub mod demo;
pub mod error;
pub mod io;
pub mod landscape;
mod linalg;
pub mod metrics;
pub mod model;
#[cfg(feature = "engine")]
pub mod optim;
pub mod plot;
pub mod protocol;
pub mod spec;
#[cfg(all(feature = "engine", not(target_arch = "wasm32")))]
pub mod train;
pub mod trajectory;
#[cfg(all(target_arch = "wasm32", any(feature = "page", feature = "worker")))]
pub mod web;

/// This crate's version, recorded in every output.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
