//! The page ↔ worker protocol. Every message is a JSON header (these
//! types) plus a list of byte attachments (checkpoints, images, direction files) that travel as
//! `Uint8Array`s beside it, referred to by index. Target-neutral so it is tested natively.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::demo::EvalSubset;
use crate::landscape::surface::{Cell, Surface};
use crate::landscape::sweep;
use crate::spec::SweepSpec;

mod panel;
mod pool;
mod reply;
mod request;
mod task;
#[cfg(test)]
mod tests;

pub use panel::*;
pub use pool::*;
pub use reply::*;
pub use request::*;
pub use task::*;
