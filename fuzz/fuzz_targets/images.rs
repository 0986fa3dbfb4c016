//! Evaluation images as the page and `--images` take them: a zip archive (mode byte even) or one
//! image file (mode byte odd), decoded, converted, resized and cropped to a model's input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vitscape::io::data::{Interpolation, Preprocess, count_decodable, decode_images, unzip};

fuzz_target!(|data: &[u8]| {
    let Some((mode, bytes)) = vitscape_fuzz::mode(data) else {
        return;
    };
    // The mode byte also picks the target: gray or RGB, and a resize/crop or none.
    let channels = if mode & 2 == 0 { 1 } else { 3 };
    let pre = match (mode >> 2) & 3 {
        0 => Preprocess::default(),
        1 => Preprocess {
            resize: Some(20),
            crop: Some(16),
            interpolation: Interpolation::Bicubic,
        },
        2 => Preprocess {
            resize: Some(16),
            crop: None,
            interpolation: Interpolation::Bilinear,
        },
        _ => Preprocess {
            resize: None,
            crop: Some(16),
            interpolation: Interpolation::Nearest,
        },
    };
    let files = if mode & 1 == 0 {
        match unzip(bytes) {
            Ok(files) => files,
            Err(e) => return drop(e.to_string()),
        }
    } else {
        vec![("class/a.png".to_string(), bytes.to_vec())]
    };
    if let Err(e) = count_decodable(&files) {
        drop(e.to_string());
    }
    match decode_images(&files, channels, 16, 16, &pre) {
        Ok(raw) => {
            if let Err(e) = raw.validate() {
                drop(e.to_string());
            }
        }
        Err(e) => drop(e.to_string()),
    }
});
