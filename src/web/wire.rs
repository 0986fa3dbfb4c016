//! Messages between the page and the worker: a JS array `[header JSON, Uint8Array...]`.

use js_sys::{Array, JsString, Uint8Array};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};

/// Build a message from a header and attachments (copied into JS memory).
pub fn encode<T: Serialize>(header: &T, attachments: &[&[u8]]) -> Result<Array, String> {
    let arrays: Vec<Uint8Array> = attachments.iter().map(|a| Uint8Array::from(*a)).collect();
    encode_shared(header, &arrays)
}

/// A message whose attachments are already JavaScript arrays: the pool's workers get the same
/// files with different headers, so the page copies a 346 MB checkpoint out of its memory once,
/// not once per worker.
pub fn encode_shared<T: Serialize>(
    header: &T,
    attachments: &[Uint8Array],
) -> Result<Array, String> {
    let json = serde_json::to_string(header).map_err(|e| format!("cannot encode message: {e}"))?;
    let out = Array::new();
    out.push(&JsValue::from_str(&json));
    for a in attachments {
        out.push(a);
    }
    Ok(out)
}

/// Read a message: its header and attachments, copied into this module's memory.
pub fn decode<T: DeserializeOwned>(data: &JsValue) -> Result<(T, Vec<Vec<u8>>), String> {
    let (header, arrays) = decode_js(data)?;
    Ok((header, arrays.iter().map(Uint8Array::to_vec).collect()))
}

/// Read a message, its attachments left as JavaScript arrays: the page keeps a ViT-B's direction
/// files (2 × 346 MB) as browser blobs, never in its own wasm memory, which cannot shrink.
pub fn decode_js<T: DeserializeOwned>(data: &JsValue) -> Result<(T, Vec<Uint8Array>), String> {
    let array: &Array = data
        .dyn_ref::<Array>()
        .ok_or_else(|| "message is not an array".to_string())?;
    let header = array
        .get(0)
        .dyn_into::<JsString>()
        .map_err(|_| "message header is not text".to_string())?;
    let header: String = header.into();
    let header = serde_json::from_str(&header).map_err(|e| format!("bad message header: {e}"))?;
    let mut attachments = Vec::new();
    for i in 1..array.length() {
        let bytes = array
            .get(i)
            .dyn_into::<Uint8Array>()
            .map_err(|_| format!("message attachment {i} is not bytes"))?;
        attachments.push(bytes);
    }
    Ok((header, attachments))
}
