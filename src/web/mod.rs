//! The browser app: the page (`app`, Leptos) and the compute worker (`worker`, burn). They talk
//! with [`crate::protocol`] messages: a JSON header plus byte attachments ([`wire`]).

#[cfg(feature = "page")]
pub mod app;
#[cfg(feature = "page")]
pub mod draw;
#[cfg(feature = "page")]
pub mod measured;
pub mod wire;
#[cfg(feature = "worker")]
pub mod worker;
