//! The page's components, each a function of the shared `Ctx`.

use super::*;

mod connect;
mod controls;
mod panels;
mod summary;
mod trajectory;

pub use connect::*;
pub use controls::*;
pub use panels::*;
pub use summary::*;
pub use trajectory::*;
