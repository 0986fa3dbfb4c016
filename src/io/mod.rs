//! Files in and out: checkpoints (safetensors, PyTorch pickles; timm names), image sets (IDX,
//! PNG/JPEG folders and zips), what a dropped checkpoint is (`inspect`), and atomic writes.

#[cfg(not(target_arch = "wasm32"))]
pub mod atomic;
pub mod checkpoint;
pub mod data;
pub mod inspect;
