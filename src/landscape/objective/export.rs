//! `eval_data.safetensors`: the exact normalised images, labels and mask noise a sweep evaluated, for independent references to read.

use super::*;

pub(crate) fn format_error(e: impl std::fmt::Display) -> Error {
    Error::Checkpoint(crate::io::checkpoint::CheckpointError::Format(
        e.to_string(),
    ))
}

/// The evaluated images (normalised, f32 `[n, c, h, w]`), labels (i64 `[n]`) and mask noise
/// (f32 `[n, L]`) as safetensors (`eval_data.safetensors`), so another tool can evaluate exactly
/// the same data and masks.
pub fn write_eval_data(images: &ImageSet, noise: Option<&MaskNoise>) -> Result<Vec<u8>, Error> {
    use safetensors::tensor::{Dtype, TensorView};
    let pixels: Vec<u8> = images.pixels.iter().flat_map(|v| v.to_le_bytes()).collect();
    let labels: Option<Vec<u8>> = images
        .labels
        .as_ref()
        .map(|l| l.iter().flat_map(|v| v.to_le_bytes()).collect());
    let noise_bytes: Option<Vec<u8>> =
        noise.map(|n| n.values.iter().flat_map(|v| v.to_le_bytes()).collect());
    let mut views = vec![(
        "images".to_string(),
        TensorView::new(
            Dtype::F32,
            vec![images.n, images.c, images.h, images.w],
            &pixels,
        )
        .map_err(format_error)?,
    )];
    if let Some(bytes) = &labels {
        views.push((
            "labels".to_string(),
            TensorView::new(Dtype::I64, vec![images.n], bytes).map_err(format_error)?,
        ));
    }
    if let (Some(bytes), Some(n)) = (&noise_bytes, noise) {
        views.push((
            "mask_noise".to_string(),
            TensorView::new(Dtype::F32, vec![n.n, n.l], bytes).map_err(format_error)?,
        ));
    }
    let meta =
        std::collections::HashMap::from([("format".to_string(), "vitscape-eval-data".to_string())]);
    safetensors::serialize(views, Some(meta)).map_err(format_error)
}

/// Read what [`write_eval_data`] wrote, checking dtypes and shapes.
pub fn read_eval_data(bytes: &[u8]) -> Result<(ImageSet, Option<MaskNoise>), Error> {
    use safetensors::tensor::Dtype;
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(format_error)?;
    let images = st.tensor("images").map_err(format_error)?;
    let &[n, c, h, w] = images.shape() else {
        return Err(format_error(format!(
            "`images` has shape {:?}; expected [n, c, h, w]",
            images.shape()
        )));
    };
    if images.dtype() != Dtype::F32 {
        return Err(format_error(format!(
            "`images` is {:?}; expected F32",
            images.dtype()
        )));
    }
    let f32s = |data: &[u8]| -> Vec<f32> {
        data.chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    };
    let labels = match st.tensor("labels") {
        Err(_) => None,
        Ok(t) if t.dtype() == Dtype::I64 && t.shape() == [n] => Some(
            t.data()
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                .collect(),
        ),
        Ok(t) => {
            return Err(format_error(format!(
                "`labels` is {:?} {:?}; expected I64 [{n}]",
                t.dtype(),
                t.shape()
            )));
        }
    };
    let noise = match st.tensor("mask_noise") {
        Err(_) => None,
        Ok(t) => match (t.dtype(), t.shape()) {
            (Dtype::F32, &[rows, l]) if rows == n => Some(MaskNoise {
                values: f32s(t.data()),
                n,
                l,
            }),
            (dtype, shape) => {
                return Err(format_error(format!(
                    "`mask_noise` is {dtype:?} {shape:?}; expected F32 [{n}, L]"
                )));
            }
        },
    };
    let set = ImageSet {
        pixels: f32s(images.data()),
        labels,
        class_names: Vec::new(),
        n,
        c,
        h,
        w,
    };
    Ok((set, noise))
}
