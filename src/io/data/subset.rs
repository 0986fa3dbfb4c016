//! The deterministic subset (a seeded permutation) and per-channel normalisation.

use super::*;

/// A deterministic subset of `count` images.
///
/// Shuffles `0..n` (Fisher-Yates, `ChaCha8Rng::seed_from_u64(seed)`) and keeps the first `count`
/// indices, in that permuted order. The same `(n, count, seed)` always picks the same images, on
/// every platform.
pub fn subset(raw: &RawImages, count: usize, seed: u64) -> Result<RawImages, DataError> {
    raw.validate()?;
    if count == 0 || count > raw.n {
        return Err(DataError::Subset {
            count,
            available: raw.n,
        });
    }
    let mut order: Vec<usize> = (0..raw.n).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    order.truncate(count);

    let images: Vec<&[u8]> = raw.pixels.chunks_exact(raw.image_len()).collect();
    let mut pixels = Vec::with_capacity(count * raw.image_len());
    let mut labels = raw.labels.as_ref().map(|_| Vec::with_capacity(count));
    for &i in &order {
        // `validate` guarantees both lookups succeed; stay panic-free regardless.
        let image = images.get(i).ok_or_else(|| DataError::Inconsistent {
            reason: format!("image {i} missing"),
        })?;
        pixels.extend_from_slice(image);
        if let (Some(out), Some(all)) = (labels.as_mut(), raw.labels.as_ref()) {
            out.push(all.get(i).copied().unwrap_or_default());
        }
    }
    Ok(RawImages {
        pixels,
        labels,
        class_names: raw.class_names.clone(),
        n: count,
        c: raw.c,
        h: raw.h,
        w: raw.w,
    })
}

/// Per-channel statistics: one value broadcast to every channel, or exactly one per channel.
pub(crate) fn per_channel(
    what: &str,
    values: &[f32],
    channels: usize,
) -> Result<Vec<f32>, DataError> {
    match values {
        [v] => Ok(vec![*v; channels]),
        _ if values.len() == channels => Ok(values.to_vec()),
        _ => Err(DataError::StatsLength {
            what: what.to_owned(),
            len: values.len(),
            channels,
        }),
    }
}

/// Scales pixels to [0, 1], then normalises per channel: `(v / 255 − mean[c]) / std[c]`.
///
/// `mean` and `std` hold one value per channel, or a single value for all. Every mean must be
/// finite and every std finite and positive.
pub fn normalise(raw: &RawImages, mean: &[f32], std: &[f32]) -> Result<ImageSet, DataError> {
    raw.validate()?;
    let mean = per_channel("mean", mean, raw.c)?;
    let std = per_channel("std", std, raw.c)?;
    let bad = |what: &str, index: usize, value: f32, expected: &str| DataError::StatsValue {
        what: what.to_owned(),
        index,
        value,
        expected: expected.to_owned(),
    };
    if let Some((i, &m)) = mean.iter().enumerate().find(|(_, m)| !m.is_finite()) {
        return Err(bad("mean", i, m, "finite"));
    }
    if let Some((i, &s)) = std
        .iter()
        .enumerate()
        .find(|(_, s)| !(s.is_finite() && **s > 0.0))
    {
        return Err(bad("std", i, s, "finite and positive"));
    }

    // Planes of `h·w` values cycle through the channels: plane k is channel k mod c.
    let plane = raw.h * raw.w;
    let mut pixels = Vec::with_capacity(raw.pixels.len());
    for (values, (&m, &s)) in raw
        .pixels
        .chunks_exact(plane)
        .zip(mean.iter().zip(&std).cycle())
    {
        pixels.extend(values.iter().map(|&v| (f32::from(v) / 255.0 - m) / s));
    }
    Ok(ImageSet {
        pixels,
        labels: raw.labels.clone(),
        class_names: raw.class_names.clone(),
        n: raw.n,
        c: raw.c,
        h: raw.h,
        w: raw.w,
    })
}

/// Checks that `set` has the `c` channels and `h×w` size a model takes.
pub fn check_fits(set: &ImageSet, c: usize, h: usize, w: usize) -> Result<(), DataError> {
    if (set.c, set.h, set.w) == (c, h, w) {
        Ok(())
    } else {
        Err(DataError::Shape {
            found_c: set.c,
            found_h: set.h,
            found_w: set.w,
            c,
            h,
            w,
        })
    }
}
