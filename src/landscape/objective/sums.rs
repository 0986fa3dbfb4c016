//! Per-batch sums of the losses (cross-entropy and accuracy, masked MSE), for one weight set or K.

use super::*;

/// `[Σ cross-entropy, Σ correct]` over a batch.
pub fn classification_sums(logits: Tensor<2>, labels: Tensor<1, Int>, size: usize) -> Tensor<1> {
    classification_sums_per_set(logits, labels.reshape([size])).reshape([2])
}

/// `[Σ cross-entropy, Σ correct]` over a batch for each of K weight sets: logits `[K·B, classes]`
/// (set-major), labels `[B]` → `[K, 2]`.
pub fn classification_sums_per_set(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<2> {
    let rows = logits.dims()[0];
    let b = labels.dims()[0].max(1);
    let k = (rows / b).max(1);
    let labels = if k > 1 {
        labels.repeat_dim(0, k)
    } else {
        labels
    };
    let log_probs = burn::tensor::activation::log_softmax(logits.clone(), 1);
    let picked = log_probs.gather(1, labels.clone().reshape([rows, 1]));
    let ce = picked.reshape([k, b]).sum_dim(1).neg();
    let predicted = logits.argmax(1).reshape([rows]);
    let correct = predicted.equal(labels).float().reshape([k, b]).sum_dim(1);
    Tensor::cat(vec![ce, correct], 1)
}

/// Σ over masked patches of the per-patch mean squared error.
pub fn masked_mse_sum(pred: Tensor<3>, target: Tensor<3>, mask: Tensor<2>) -> Tensor<1> {
    masked_mse_sum_per_set(pred, target, mask).reshape([1])
}

/// Σ over masked patches of the per-patch mean squared error for each of K weight sets:
/// pred `[K·B, L, P]` (set-major), target `[B, L, P]` or `[K·B, L, P]`, mask `[B, L]` → `[K, 1]`.
pub fn masked_mse_sum_per_set(pred: Tensor<3>, target: Tensor<3>, mask: Tensor<2>) -> Tensor<2> {
    let [rows, l, p] = pred.dims();
    let [b, _] = mask.dims();
    let b = b.max(1);
    let k = (rows / b).max(1);
    let tk = (target.dims()[0] / b).max(1);
    let diff = pred.reshape([k, b, l, p]) - target.reshape([tk, b, l, p]);
    let per_patch = diff.powi_scalar(2).mean_dim(3).reshape([k, b * l]);
    (per_patch * mask.reshape([1, b * l])).sum_dim(1)
}
