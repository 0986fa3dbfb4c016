//! A loss landscape: the directions of the plane, the objective evaluated at its cells, the
//! surface that holds them, the cell loops (sweep), and how a spec becomes a prepared job
//! (`setup`, `job`; with the `engine` feature), and the page's preview of a partial surface.

pub mod directions;
#[cfg(feature = "engine")]
pub mod job;
#[cfg(feature = "engine")]
pub mod objective;
pub mod preview;
#[cfg(feature = "engine")]
pub mod setup;
pub mod surface;
pub mod sweep;
