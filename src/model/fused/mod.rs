//! The landscape evaluator's hot path on the CPU: transformer blocks computed on host memory in
//! one fused pass each ([`block`]), with vectorisable exp/erf ([`math`]).
//!
//! There is still one model: [`Vit`](super::Vit) decides per block. Forward passes on burn's
//! `flex` CPU device without autodiff (every landscape cell, loss value and probe evaluation of
//! the CLI, and of the browser worker's CPU fallback, where the same code is built for wasm
//! `simd128`) take this path; gradients (autodiff) and GPUs (WebGPU, wgpu) keep the burn
//! composition, `Vit::block_composed`, which the tests hold this path to (≤ 1e-5).
//!
//! Gradients of the reconstruction losses (MAE, RC-MAE) at one θ on the same device are taken
//! here too ([`gradient`]): the fused forward pass keeps what a hand-written backward pass
//! ([`backward`]) needs, held to burn's autodiff of the same loss by the tests.

mod backward;
mod block;
pub(crate) mod gradient;
pub(crate) mod math;
#[cfg(test)]
mod tests;

use burn::tensor::{Device, Tensor, TensorData};

use super::Weights;
use crate::error::ArchError;
use block::BlockWeights;

/// Whether a block over `x` runs here: on the `flex` CPU device, without autodiff.
pub(crate) fn applies(x: &Tensor<3>) -> bool {
    let device = x.device();
    !device.is_autodiff() && device == Device::flex()
}

/// A tensor's values on the host.
fn host<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, ArchError> {
    t.into_data()
        .try_into_vec::<f32>()
        .map_err(|e| ArchError::Invalid(format!("reading a tensor back for the CPU path: {e:?}")))
}

/// The block `prefix` (`blocks.3`, `decoder_blocks.0`) over `x` (`[K·B, N, D]`, set-major),
/// weight set by weight set.
pub(crate) fn block(
    weights: &Weights,
    x: Tensor<3>,
    prefix: &str,
    heads: usize,
    qkv_bias: bool,
) -> Result<Tensor<3>, ArchError> {
    let device = x.device();
    let [r, n, d] = x.dims();
    let sets = weights.sets();
    if sets == 0
        || n == 0
        || d == 0
        || !r.is_multiple_of(sets)
        || heads == 0
        || !d.is_multiple_of(heads)
    {
        return Err(ArchError::Invalid(format!(
            "a block over [{r}, {n}, {d}] with {sets} weight set(s) and {heads} head(s)"
        )));
    }
    let get = |name: &str| -> Result<Vec<f32>, ArchError> {
        host(weights.get(&format!("{prefix}.{name}"))?)
    };
    let names = [
        "norm1.weight",
        "norm1.bias",
        "attn.qkv.weight",
        "attn.proj.weight",
        "attn.proj.bias",
        "norm2.weight",
        "norm2.bias",
        "mlp.fc1.weight",
        "mlp.fc1.bias",
        "mlp.fc2.weight",
        "mlp.fc2.bias",
    ];
    let values = names
        .iter()
        .map(|n| get(n))
        .collect::<Result<Vec<_>, _>>()?;
    let qkv_b = if qkv_bias {
        Some(get("attn.qkv.bias")?)
    } else {
        None
    };
    let hidden = values[7].len() / sets / d;
    let expected = [
        d,
        d,
        3 * d * d,
        d * d,
        d,
        d,
        d,
        hidden * d,
        hidden,
        d * hidden,
        d,
    ];
    for ((name, v), want) in names.iter().zip(&values).zip(expected) {
        if v.len() != want * sets {
            return Err(ArchError::Invalid(format!(
                "{prefix}.{name} holds {} values for {sets} set(s); a width of {d} needs {want} each",
                v.len()
            )));
        }
    }
    if qkv_b.as_ref().is_some_and(|b| b.len() != 3 * d * sets) {
        return Err(ArchError::Invalid(format!(
            "{prefix}.attn.qkv.bias does not hold 3 × {d} values per set"
        )));
    }
    let mut values_x = host(x)?;
    let per_set = r / sets * n * d;
    for (s, xs) in values_x.chunks_exact_mut(per_set.max(1)).enumerate() {
        let part = |i: usize| {
            let len = values[i].len() / sets;
            &values[i][s * len..(s + 1) * len]
        };
        let w = BlockWeights {
            norm1: (part(0), part(1)),
            qkv: (
                part(2),
                qkv_b.as_deref().map(|b| &b[s * 3 * d..(s + 1) * 3 * d]),
            ),
            proj: (part(3), part(4)),
            norm2: (part(5), part(6)),
            fc1: (part(7), part(8)),
            fc2: (part(9), part(10)),
        };
        block::block(xs, n, heads, &w);
    }
    Ok(Tensor::from_data(
        TensorData::new(values_x, [r, n, d]),
        &device,
    ))
}
