//! The browser app: the page (`app`, Leptos) and the compute worker (`worker`, burn). They talk
//! with [`crate::protocol`] messages: a JSON header plus byte attachments ([`wire`]).

pub mod app;
pub mod draw;
pub mod wire;
pub mod worker;
