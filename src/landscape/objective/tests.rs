//! The objectives' own tests.

use super::*;

#[test]
fn masking_keeps_floor_and_restores_order() {
    let noise = MaskNoise::seeded(5, 16, 3);
    let idx = mask_indices(&noise, 0.75);
    assert_eq!(idx.keep, 4);
    for i in 0..5 {
        let row = &idx.mask[i * 16..(i + 1) * 16];
        assert_eq!(row.iter().filter(|v| **v == 0.0).count(), 4);
        // Kept ids are unmasked and have the smallest noise.
        for &k in &idx.ids_keep[i * 4..(i + 1) * 4] {
            assert_eq!(row[k as usize], 0.0);
        }
        // restore ∘ shuffle = identity: the patch at shuffled rank r has restore value r.
        let restore = &idx.ids_restore[i * 16..(i + 1) * 16];
        let mut seen = restore.to_vec();
        seen.sort();
        assert_eq!(seen, (0..16).collect::<Vec<i64>>());
        for (rank, &k) in idx.ids_keep[i * 4..(i + 1) * 4].iter().enumerate() {
            assert_eq!(restore[k as usize], rank as i64);
        }
    }
    assert_eq!(kept_patches(49, 0.75), 12);
    // Same float rounding as MAE's `int(L * (1 - r))`: 10 * (1 - 0.9) = 0.999… → 0.
    assert_eq!(kept_patches(10, 0.9), 0);
    assert_eq!(kept_patches(196, 0.75), 49);
}

#[test]
fn token_rows_offset_each_image_by_its_tokens() {
    // Two images of four tokens each, two indices per image.
    assert_eq!(token_rows(&[2, 0, 1, 3], 2, 4), vec![2, 0, 5, 7]);
    // The unshuffle: a permutation of each image's tokens.
    assert_eq!(
        token_rows(&[1, 0, 2, 2, 0, 1], 3, 3),
        vec![1, 0, 2, 5, 3, 4]
    );
}

#[test]
fn patchify_order_and_norm_pix() {
    // One 2-channel 2×2 image, patch 2: values ordered (row, col, channel).
    let images = ImageSet {
        pixels: vec![1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0],
        labels: None,
        class_names: vec![],
        n: 1,
        c: 2,
        h: 2,
        w: 2,
    };
    assert_eq!(
        patchify_targets(&images, 2, false),
        vec![1.0, 10.0, 2.0, 20.0, 3.0, 30.0, 4.0, 40.0]
    );
    let normed = patchify_targets(&images, 2, true);
    let mean: f32 = normed.iter().sum::<f32>() / 8.0;
    let var: f32 = normed.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 7.0;
    assert!(
        mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-4,
        "{mean} {var}"
    );
}
