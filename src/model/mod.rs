//! The Vision Transformer: its architecture read from a checkpoint's names and shapes (`arch`),
//! the flat parameter vector in timm order (`layout`), and the burn model itself (`vit`, with the
//! `engine` feature; its items are re-exported here).

pub mod arch;
#[cfg(feature = "engine")]
pub(crate) mod fused;
pub mod layout;
#[cfg(feature = "engine")]
mod vit;
#[cfg(feature = "engine")]
pub use vit::*;
