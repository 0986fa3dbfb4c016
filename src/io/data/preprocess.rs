//! Preprocessing as timm's eval pipeline does it (torchvision `Resize(int)` of the shorter side,
//! aspect kept, then `CenterCrop`), and the named mean/std presets. The spec records all of it;
//! an image whose size differs from the model's input without a resize/crop is an error, never
//! silently squashed.

use serde::{Deserialize, Serialize};

use super::*;

/// Resampling filter for `--resize`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(not(target_arch = "wasm32"), derive(clap::ValueEnum))]
pub enum Interpolation {
    /// Bicubic (Catmull-Rom, a = −0.5, as PIL's): timm's default for ViTs.
    #[default]
    Bicubic,
    /// Bilinear (triangle).
    Bilinear,
    /// Nearest neighbour.
    Nearest,
}

impl Interpolation {
    /// The name used in flags and specs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bicubic => "bicubic",
            Self::Bilinear => "bilinear",
            Self::Nearest => "nearest",
        }
    }
}

/// How decoded images are brought to the model's input size.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct Preprocess {
    /// Resize so that the shorter side is this many pixels, keeping the aspect ratio (the longer
    /// side is `floor(resize · long / short)`, as torchvision's). `None`: no resize.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize: Option<usize>,
    /// Centre crop to `crop × crop` (offsets rounded as torchvision does). `None`: no crop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop: Option<usize>,
    /// The resize filter.
    #[serde(default)]
    pub interpolation: Interpolation,
}

impl Preprocess {
    /// Neither resize nor crop: images must already have the model's size.
    pub fn is_none(&self) -> bool {
        self.resize.is_none() && self.crop.is_none()
    }

    /// "resize 248 (bicubic), centre crop 224", or "none".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(r) = self.resize {
            parts.push(format!(
                "resize shorter side to {r} ({})",
                self.interpolation.name()
            ));
        }
        if let Some(c) = self.crop {
            parts.push(format!("centre crop {c}×{c}"));
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}

/// A named mean/std: `imagenet`, `fashion-mnist`, `inception` (0.5), `clip`.
pub fn mean_std_preset(name: &str) -> Option<(Vec<f32>, Vec<f32>)> {
    Some(match name.to_ascii_lowercase().as_str() {
        "imagenet" => (IMAGENET_MEAN.to_vec(), IMAGENET_STD.to_vec()),
        "fashion-mnist" | "fashion_mnist" | "fmnist" => {
            (vec![FASHION_MNIST_MEAN], vec![FASHION_MNIST_STD])
        }
        "inception" | "half" => (vec![0.5; 3], vec![0.5; 3]),
        "clip" | "openai-clip" => (
            vec![0.481_454_66, 0.457_827_5, 0.408_210_73],
            vec![0.268_629_54, 0.261_302_6, 0.275_777_1],
        ),
        _ => return None,
    })
}

/// The names [`mean_std_preset`] knows, for messages.
pub const MEAN_STD_PRESETS: [&str; 4] = ["imagenet", "fashion-mnist", "inception", "clip"];

/// ImageNet mean (timm's `IMAGENET_DEFAULT_MEAN`).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet std (timm's `IMAGENET_DEFAULT_STD`).
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// The preset used when no mean/std is given: Fashion-MNIST's for 1 channel (the demo's data),
/// ImageNet's for 3 (what timm's ViTs are trained with).
pub fn default_preset(channels: usize) -> &'static str {
    if channels == 1 {
        "fashion-mnist"
    } else {
        "imagenet"
    }
}

/// Normalisation statistics and where they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct MeanStd {
    /// One value per channel.
    pub mean: Vec<f32>,
    /// One value per channel.
    pub std: Vec<f32>,
    /// The preset's name, "… (assumed …)" when defaulted; `None` when given as numbers (what the
    /// spec's `data.mean_std` records).
    pub note: Option<String>,
}

/// Reads `--mean` / `--std` (a preset name or comma-separated numbers; one number is used for
/// every channel); with neither, the preset for the channels ([`default_preset`]) is assumed and
/// the note says so.
pub fn mean_std(
    mean: Option<&str>,
    std: Option<&str>,
    channels: usize,
) -> Result<MeanStd, DataError> {
    let bad = |reason: String| DataError::MeanStd { reason };
    let numbers = |what: &str, text: &str| -> Result<Vec<f32>, DataError> {
        text.split(',')
            .map(|v| v.trim().parse::<f32>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                bad(format!(
                    "{what} `{text}` is neither numbers (comma-separated) nor a preset ({})",
                    MEAN_STD_PRESETS.join(", ")
                ))
            })
    };
    let fit = |what: &str, values: Vec<f32>, from: &str| -> Result<Vec<f32>, DataError> {
        match values.len() {
            1 => Ok(vec![values[0]; channels]),
            n if n == channels => Ok(values),
            n => Err(bad(format!(
                "{what} {from} has {n} values but the model takes {}",
                channels_phrase(channels)
            ))),
        }
    };
    let (mean_values, std_values, note) = match (mean, std) {
        (None, None) => {
            let name = default_preset(channels);
            let (m, s) = mean_std_preset(name).unwrap_or_default();
            let note = format!(
                "{name} (assumed: the default for {channels}-channel images; give --mean/--std \
                 to change it)"
            );
            (m, s, Some(note))
        }
        (Some(m), s) if mean_std_preset(m).is_some() => {
            if let Some(s) = s.filter(|s| !s.eq_ignore_ascii_case(m)) {
                return Err(bad(format!(
                    "--mean names the preset `{m}`, so --std must be left out or name it too                      (got `{s}`)"
                )));
            }
            let (mv, sv) = mean_std_preset(m).unwrap_or_default();
            (mv, sv, Some(m.to_ascii_lowercase()))
        }
        (Some(m), Some(s)) => (numbers("--mean", m)?, numbers("--std", s)?, None),
        (m, s) => {
            return Err(bad(format!(
                "give both --mean and --std as numbers, or --mean as a preset ({}); got --mean                  {} and --std {}",
                MEAN_STD_PRESETS.join(", "),
                m.unwrap_or("(none)"),
                s.unwrap_or("(none)")
            )));
        }
    };
    let from = note.as_deref().map_or("as given".to_owned(), |n| {
        format!("of {}", n.split(' ').next().unwrap_or(n))
    });
    Ok(MeanStd {
        mean: fit("mean", mean_values, &from)?,
        std: fit("std", std_values, &from)?,
        note,
    })
}

/// `round(x / 2)` for an integer `x`, rounding halves to even as Python's `round` does
/// (torchvision's centre-crop offset).
fn half_to_even(x: u32) -> u32 {
    let half = x / 2;
    if x % 2 == 1 && half % 2 == 1 {
        half + 1
    } else {
        half
    }
}

/// Resizes an 8-bit gray or RGB image to `nw`×`nh` as PIL's `Image.resize` does (what
/// torchvision's `Resize` calls on timm's PIL images).
///
/// Bicubic and bilinear are Pillow's separable convolution in fixed point (`fast_image_resize`
/// implements it, with SIMD): the horizontal pass first, rounded to 8 bits, then the vertical one,
/// in Pillow's order; each value lands within 2 levels of PIL's (most exactly), and the cost per
/// input pixel does not grow with the reduction. Nearest stays the `image` crate's.
fn resize<P>(
    file: &str,
    img: image::ImageBuffer<P, Vec<u8>>,
    (nw, nh): (u32, u32),
    interpolation: Interpolation,
) -> Result<image::ImageBuffer<P, Vec<u8>>, DataError>
where
    P: image::Pixel<Subpixel = u8> + 'static,
{
    use fast_image_resize as fir;
    let filter = match interpolation {
        Interpolation::Nearest => {
            return Ok(image::imageops::resize(
                &img,
                nw,
                nh,
                image::imageops::FilterType::Nearest,
            ));
        }
        Interpolation::Bicubic => fir::FilterType::CatmullRom,
        Interpolation::Bilinear => fir::FilterType::Bilinear,
    };
    let (iw, ih) = img.dimensions();
    let failed = |why: String| DataError::ImageSize {
        file: file.to_owned(),
        width: iw as usize,
        height: ih as usize,
        reason: format!("resizing it to {nw}×{nh} failed: {why}"),
    };
    let pixel = match P::CHANNEL_COUNT {
        1 => fir::PixelType::U8,
        3 => fir::PixelType::U8x3,
        n => {
            return Err(failed(format!(
                "{n} channels (only gray or RGB are resized)"
            )));
        }
    };
    let options = fir::ResizeOptions::new().resize_alg(fir::ResizeAlg::Convolution(filter));
    let mut resizer = fir::Resizer::new();
    let mut pass = |from: fir::images::Image<'static>, (w, h): (u32, u32)| {
        let mut to = fir::images::Image::new(w, h, pixel);
        resizer
            .resize(&from, &mut to, &options)
            .map_err(|e| failed(e.to_string()))?;
        Ok::<_, DataError>(to)
    };
    let mut now = fir::images::Image::from_vec_u8(iw, ih, img.into_raw(), pixel)
        .map_err(|e| failed(e.to_string()))?;
    if nw != iw {
        now = pass(now, (nw, ih))?;
    }
    if nh != ih {
        now = pass(now, (nw, nh))?;
    }
    image::ImageBuffer::from_raw(nw, nh, now.into_vec())
        .ok_or_else(|| failed("the resized pixels do not fill the image".to_owned()))
}

/// Resizes and crops one decoded image as `pre` says, then checks it has the model's size.
pub(crate) fn prepare<P>(
    file: &str,
    img: image::ImageBuffer<P, Vec<u8>>,
    (h, w): (u32, u32),
    pre: &Preprocess,
) -> Result<image::ImageBuffer<P, Vec<u8>>, DataError>
where
    P: image::Pixel<Subpixel = u8> + 'static,
{
    let mut img = img;
    let (original_w, original_h) = img.dimensions();
    if let Some(size) = pre.resize {
        let size = u32::try_from(size).unwrap_or(u32::MAX);
        let (iw, ih) = img.dimensions();
        let (short, long) = (iw.min(ih), iw.max(ih));
        let scaled = u32::try_from(u64::from(size) * u64::from(long) / u64::from(short.max(1)))
            .unwrap_or(u32::MAX);
        let (nw, nh) = if iw <= ih {
            (size, scaled)
        } else {
            (scaled, size)
        };
        if nw.max(nh) > 1 << 14 {
            return Err(DataError::ImageSize {
                file: file.to_owned(),
                width: iw as usize,
                height: ih as usize,
                reason: format!(
                    "resizing its shorter side to {size} makes it {nw}×{nh}, too large"
                ),
            });
        }
        if (nw, nh) != (iw, ih) {
            img = resize(file, img, (nw, nh), pre.interpolation)?;
        }
    }
    if let Some(crop) = pre.crop {
        let crop = u32::try_from(crop).unwrap_or(u32::MAX);
        let (iw, ih) = img.dimensions();
        if iw < crop || ih < crop {
            return Err(DataError::ImageSize {
                file: file.to_owned(),
                width: original_w as usize,
                height: original_h as usize,
                reason: format!(
                    "{} it is {iw}×{ih}, smaller than the {crop}×{crop} crop; give a --resize of \
                     at least {crop}",
                    if pre.resize.is_some() {
                        "after the resize"
                    } else {
                        "without a resize"
                    }
                ),
            });
        }
        let top = half_to_even(ih - crop);
        let left = half_to_even(iw - crop);
        img = image::imageops::crop_imm(&img, left, top, crop, crop).to_image();
    }
    if img.dimensions() != (w, h) {
        let (iw, ih) = img.dimensions();
        let reason = if pre.is_none() {
            format!(
                "the model takes {w}×{h}; give --resize and --crop (timm's eval pipeline at 224 is \
                 --resize 248 --crop 224; on the page, the resize and crop fields) — images are \
                 never squashed silently"
            )
        } else {
            format!(
                "after {} it is {iw}×{ih}, but the model takes {w}×{h}",
                pre.describe()
            )
        };
        return Err(DataError::ImageSize {
            file: file.to_owned(),
            width: original_w as usize,
            height: original_h as usize,
            reason,
        });
    }
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_offsets_round_half_to_even_as_python() {
        // Python: round(0.5) = 0, round(1.5) = 2, round(2.5) = 2, round(3.5) = 4.
        assert_eq!(
            [0, 1, 2, 3, 4, 5, 6, 7].map(half_to_even),
            [0, 0, 1, 2, 2, 2, 3, 4]
        );
    }

    #[test]
    fn shorter_side_resize_then_centre_crop_gives_the_model_size() {
        let img = image::GrayImage::from_fn(300, 200, |x, y| image::Luma([((x + y) % 256) as u8]));
        let pre = Preprocess {
            resize: Some(36),
            crop: Some(32),
            interpolation: Interpolation::Bicubic,
        };
        let out = prepare("a.png", img.clone(), (32, 32), &pre).unwrap();
        assert_eq!(out.dimensions(), (32, 32));
        // Without preprocessing a differently sized image is refused, naming the fix.
        let err = prepare("a.png", img.clone(), (32, 32), &Preprocess::default()).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("a.png") && message.contains("300×200"),
            "{message}"
        );
        assert!(message.contains("--resize"), "{message}");
        // A crop larger than the resized image is refused.
        let small = Preprocess {
            resize: Some(20),
            crop: Some(32),
            ..pre
        };
        assert!(prepare("a.png", img, (32, 32), &small).is_err());
    }

    #[test]
    fn mean_std_reads_presets_and_numbers_and_says_what_it_assumed() {
        let assumed = mean_std(None, None, 3).unwrap();
        assert_eq!(assumed.mean, IMAGENET_MEAN.to_vec());
        assert!(assumed.note.unwrap().contains("assumed"));
        let gray = mean_std(None, None, 1).unwrap();
        assert_eq!(gray.mean, vec![FASHION_MNIST_MEAN]);
        let named = mean_std(Some("imagenet"), None, 3).unwrap();
        assert_eq!(named.note.as_deref(), Some("imagenet"));
        let numbers = mean_std(Some("0.5"), Some("0.25,0.5,1"), 3).unwrap();
        assert_eq!(numbers.mean, vec![0.5; 3]);
        assert_eq!(numbers.std, vec![0.25, 0.5, 1.0]);
        assert_eq!(numbers.note, None);
        for (m, s, c) in [
            (Some("imagenet"), None, 1),
            (Some("0.5"), None, 3),
            (Some("x"), Some("y"), 3),
            (Some("0.1,0.2"), Some("1"), 3),
        ] {
            assert!(mean_std(m, s, c).is_err(), "{m:?} {s:?} {c}");
        }
    }

    #[test]
    fn presets_and_defaults_follow_the_channels() {
        assert_eq!(default_preset(3), "imagenet");
        assert_eq!(default_preset(1), "fashion-mnist");
        assert_eq!(
            mean_std_preset("ImageNet").unwrap().0,
            IMAGENET_MEAN.to_vec()
        );
        assert!(mean_std_preset("nonsense").is_none());
    }
}
