//! The data module's own tests: IDX, decoding, zips, folders, subsets and normalisation.

use std::io::Write;

use super::*;

/// gzip'd `bytes`, built independently of the reader.
fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// An IDX file: big-endian magic and dimensions, then `payload`.
fn idx(magic: u32, dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut out = magic.to_be_bytes().to_vec();
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

/// A PNG of `w×h` pixels all of gray level `v`.
fn gray_png(w: u32, h: u32, v: u8) -> Vec<u8> {
    let img = image::GrayImage::from_pixel(w, h, image::Luma([v]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageLuma8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

fn raw_1x1(values: &[u8]) -> RawImages {
    RawImages {
        pixels: values.to_vec(),
        labels: Some(values.iter().map(|&v| i64::from(v)).collect()),
        class_names: vec![],
        n: values.len(),
        c: 1,
        h: 1,
        w: 1,
    }
}

#[test]
fn idx_images_parse_known_values() {
    // Hand-written header: magic 0x00000803, n=2, h=2, w=3.
    let mut file = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3];
    file.extend([0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]);
    let (n, h, w, pixels) = parse_idx_images(&gz(&file)).unwrap();
    assert_eq!((n, h, w), (2, 2, 3));
    assert_eq!(pixels, [0, 1, 2, 3, 4, 5, 250, 251, 252, 253, 254, 255]);
}

#[test]
fn idx_labels_parse_known_values() {
    let file = [0, 0, 8, 1, 0, 0, 0, 4, 9, 0, 3, 7];
    assert_eq!(parse_idx_labels(&gz(&file)).unwrap(), [9, 0, 3, 7]);
}

#[test]
fn idx_bad_magic() {
    let labels = gz(&idx(IDX1_UBYTE_MAGIC, &[1, 1, 1], &[0]));
    let err = parse_idx_images(&labels).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::Magic {
                found: 0x801,
                expected: 0x803,
                ..
            }
        ),
        "{err}"
    );
    let images = gz(&idx(IDX3_UBYTE_MAGIC, &[1], &[0]));
    let err = parse_idx_labels(&images).unwrap_err();
    assert!(
        matches!(err, DataError::Magic { found: 0x803, .. }),
        "{err}"
    );
}

#[test]
fn idx_truncated_and_overlong_data() {
    let short = gz(&idx(IDX3_UBYTE_MAGIC, &[2, 2, 3], &[7; 11]));
    let err = parse_idx_images(&short).unwrap_err();
    assert_eq!(
        err,
        DataError::Length {
            expected: 12,
            found: 11,
            dims: "2×2×3".into()
        }
    );
    assert!(err.to_string().contains("2×2×3"), "{err}");
    let long = gz(&idx(IDX1_UBYTE_MAGIC, &[2], &[1, 2, 3]));
    assert!(matches!(
        parse_idx_labels(&long),
        Err(DataError::Length {
            expected: 2,
            found: 3,
            ..
        })
    ));
    // A header cut short.
    let err = parse_idx_images(&gz(&[0, 0, 8, 3, 0, 0])).unwrap_err();
    assert!(matches!(err, DataError::Header { .. }), "{err}");
}

#[test]
fn idx_dims_overflow_and_zero() {
    let huge = gz(&idx(IDX3_UBYTE_MAGIC, &[u32::MAX; 3], &[0; 4]));
    let err = parse_idx_images(&huge).unwrap_err();
    assert!(
        matches!(&err, DataError::Header { reason } if reason.contains("overflow")),
        "{err}"
    );
    let zero = gz(&idx(IDX3_UBYTE_MAGIC, &[0, 28, 28], &[]));
    let err = parse_idx_images(&zero).unwrap_err();
    assert!(
        matches!(&err, DataError::Header { reason } if reason.contains("zero")),
        "{err}"
    );
}

#[test]
fn idx_label_out_of_range() {
    let file = gz(&idx(IDX1_UBYTE_MAGIC, &[3], &[1, 10, 2]));
    assert_eq!(
        parse_idx_labels(&file).unwrap_err(),
        DataError::Label {
            index: 1,
            label: 10,
            classes: 10
        }
    );
}

#[test]
fn not_gzip_and_gzip_bomb() {
    let err = parse_idx_labels(b"plain bytes").unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err}");

    // One byte over the limit of zeros compresses to ~64 KiB.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..64 {
        enc.write_all(&zeros).unwrap();
    }
    enc.write_all(&[0]).unwrap();
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 1 << 20);
    assert_eq!(
        parse_idx_images(&bomb).unwrap_err(),
        DataError::TooLarge {
            limit_bytes: MAX_DECOMPRESSED_BYTES
        }
    );
}

#[cfg(not(target_arch = "wasm32"))] // reads files
#[test]
fn fashion_mnist_label_count_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let images = idx(IDX3_UBYTE_MAGIC, &[2, 1, 1], &[5, 6]);
    let labels = idx(IDX1_UBYTE_MAGIC, &[3], &[0, 1, 2]);
    std::fs::write(dir.path().join("t10k-images-idx3-ubyte.gz"), gz(&images)).unwrap();
    std::fs::write(dir.path().join("t10k-labels-idx1-ubyte.gz"), gz(&labels)).unwrap();
    let err = load_fashion_mnist(dir.path(), crate::spec::Split::Test).unwrap_err();
    let DataError::InFile { file, source } = &err else {
        panic!("{err}");
    };
    assert!(file.ends_with("t10k-labels-idx1-ubyte.gz"), "{file}");
    assert_eq!(
        **source,
        DataError::LabelCount {
            images: 2,
            labels: 3
        }
    );
    assert!(err.to_string().contains("3 labels for 2 images"), "{err}");
}

#[cfg(not(target_arch = "wasm32"))] // reads files
#[test]
fn fashion_mnist_missing_dir_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("nowhere");
    let err = load_fashion_mnist(&gone, crate::spec::Split::Test).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("nowhere") && text.contains("apt-get install dataset-fashion-mnist"));
    assert!(text.contains("--data-dir"), "{text}");

    let err = load_fashion_mnist(dir.path(), crate::spec::Split::Train).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, DataError::NotFound { .. }), "{text}");
    assert!(text.contains("train-images-idx3-ubyte.gz"), "{text}");
    assert!(
        text.contains("apt-get install dataset-fashion-mnist"),
        "{text}"
    );
}

#[cfg(not(target_arch = "wasm32"))] // reads files
#[test]
fn fashion_mnist_debian_test_split() {
    let dir = std::path::Path::new(DEBIAN_FASHION_MNIST);
    if !dir.is_dir() {
        eprintln!("note: {DEBIAN_FASHION_MNIST} absent; skipping the Fashion-MNIST test");
        return;
    }
    let raw = load_fashion_mnist(dir, crate::spec::Split::Test).unwrap();
    assert_eq!((raw.n, raw.c, raw.h, raw.w), (10_000, 1, 28, 28));
    assert_eq!(raw.pixels.len(), 10_000 * 28 * 28);
    let labels = raw.labels.as_deref().unwrap();
    assert_eq!(labels.len(), 10_000);
    assert!(labels.iter().all(|l| (0..10).contains(l)));
    // The first test image is an ankle boot (class 9), and the test split is balanced.
    assert_eq!(labels[0], 9);
    assert_eq!(raw.class_names[9], "Ankle boot");
    assert_eq!(labels.iter().filter(|&&l| l == 9).count(), 1000);
}

#[test]
fn subset_is_deterministic_permutation_and_seeded() {
    let values: Vec<u8> = (0..200).collect();
    let raw = raw_1x1(&values);
    let a = subset(&raw, 50, 7).unwrap();
    assert_eq!(a, subset(&raw, 50, 7).unwrap());
    assert_eq!((a.n, a.c, a.h, a.w, a.pixels.len()), (50, 1, 1, 1, 50));
    // Each image keeps its own label.
    let labels = a.labels.clone().unwrap();
    assert!(
        a.pixels
            .iter()
            .zip(&labels)
            .all(|(&p, &l)| i64::from(p) == l)
    );
    // No repeats.
    let mut seen = a.pixels.clone();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 50);
    // Another seed picks differently.
    assert_ne!(a.pixels, subset(&raw, 50, 8).unwrap().pixels);
    // All of them: a permutation, not the identity.
    let all = subset(&raw, 200, 7).unwrap();
    let mut sorted = all.pixels.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, values);
    assert_ne!(all.pixels, values);
    // The first `count` of the full permutation are the smaller subset.
    assert_eq!(all.pixels[..50], a.pixels[..]);
}

#[test]
fn subset_too_large_or_empty() {
    let raw = raw_1x1(&[1, 2, 3]);
    let err = subset(&raw, 4, 0).unwrap_err();
    assert_eq!(
        err,
        DataError::Subset {
            count: 4,
            available: 3
        }
    );
    let text = err.to_string();
    assert!(text.contains('4') && text.contains('3'), "{text}");
    assert!(subset(&raw, 0, 0).is_err());
    let mut broken = raw;
    broken.pixels.pop();
    assert!(matches!(
        subset(&broken, 1, 0),
        Err(DataError::Inconsistent { .. })
    ));
}

#[test]
fn normalise_known_values() {
    // 0/255 = 0, 51/255 = 0.2, 255/255 = 1; (x - 0.5) / 0.25.
    let set = normalise(&raw_1x1(&[0, 51, 255]), &[0.5], &[0.25]).unwrap();
    assert_eq!(set.pixels[0], -2.0);
    assert!((set.pixels[1] - -1.2).abs() < 1e-6, "{}", set.pixels[1]);
    assert_eq!(set.pixels[2], 2.0);
    assert_eq!(set.labels, Some(vec![0, 51, 255]));

    // Per channel: one 1×2 RGB image, planes [255, 0], [0, 255], [255, 255].
    let rgb = RawImages {
        pixels: vec![255, 0, 0, 255, 255, 255],
        labels: None,
        class_names: vec![],
        n: 1,
        c: 3,
        h: 1,
        w: 2,
    };
    let set = normalise(&rgb, &[0.0, 0.5, 1.0], &[1.0, 0.5, 2.0]).unwrap();
    assert_eq!(set.pixels, [1.0, 0.0, -1.0, 1.0, 0.0, 0.0]);
    assert_eq!((set.n, set.c, set.h, set.w), (1, 3, 1, 2));
}

#[test]
fn normalise_rejects_bad_statistics() {
    let rgb = RawImages {
        pixels: vec![0; 3],
        labels: None,
        class_names: vec![],
        n: 1,
        c: 3,
        h: 1,
        w: 1,
    };
    let err = normalise(&rgb, &[0.1, 0.2], &[1.0]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "mean has 2 values for images with 3 channels (give 1 or 3)"
    );
    let err = normalise(&rgb, &[0.1], &[1.0, 0.0, 1.0]).unwrap_err();
    assert!(
        matches!(&err, DataError::StatsValue { what, index: 1, .. } if what == "std"),
        "{err}"
    );
    assert!(normalise(&rgb, &[f32::NAN], &[1.0]).is_err());
}

#[test]
fn check_fits_message() {
    let set = ImageSet {
        pixels: vec![0.0; 3 * 32 * 32],
        labels: None,
        class_names: vec![],
        n: 1,
        c: 3,
        h: 32,
        w: 32,
    };
    assert!(check_fits(&set, 3, 32, 32).is_ok());
    assert_eq!(
        check_fits(&set, 1, 28, 28).unwrap_err().to_string(),
        "images are 32×32 with 3 channels; the model expects 28×28 with 1 channel"
    );
}

#[cfg(not(target_arch = "wasm32"))] // reads files
#[test]
fn image_folder_with_class_subfolders() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("ankle"), dir.path().join("bag"));
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    // 6 wide × 4 high, constant gray levels so the resized values are known (shorter side 2:
    // 3 wide × 2 high).
    std::fs::write(b.join("x.png"), gray_png(6, 4, 30)).unwrap();
    std::fs::write(a.join("2.PNG"), gray_png(6, 4, 20)).unwrap();
    std::fs::write(a.join("1.png"), gray_png(6, 4, 10)).unwrap();
    std::fs::write(a.join("notes.txt"), "not an image").unwrap();
    std::fs::write(a.join(".hidden.png"), "skipped").unwrap();
    std::fs::write(dir.path().join("loose.png"), "ignored next to classes").unwrap();

    let raw = load_image_folder(dir.path(), 1, 2, 3, &shorter_side(2)).unwrap();
    assert_eq!((raw.n, raw.c, raw.h, raw.w), (3, 1, 2, 3));
    assert_eq!(raw.labels, Some(vec![0, 0, 1]));
    assert_eq!(raw.class_names, ["ankle", "bag"]);
    let expected: Vec<u8> = [10u8, 20, 30].iter().flat_map(|&v| [v; 6]).collect();
    assert_eq!(raw.pixels, expected);

    // RGB: gray replicated to three planes, size kept when it already matches.
    let rgb = load_image_folder(dir.path(), 3, 4, 6, &Preprocess::default()).unwrap();
    assert_eq!((rgb.n, rgb.c, rgb.pixels.len()), (3, 3, 3 * 3 * 24));
    assert!(rgb.pixels[..72].iter().all(|&v| v == 10));
}

#[cfg(not(target_arch = "wasm32"))] // reads files
#[test]
fn image_folder_without_subfolders_is_unlabelled() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("b.jpeg.png"), gray_png(2, 2, 1)).unwrap();
    std::fs::write(dir.path().join("a.png"), gray_png(2, 2, 2)).unwrap();
    let raw = load_image_folder(dir.path(), 1, 2, 2, &Preprocess::default()).unwrap();
    assert_eq!(raw.labels, None);
    assert!(raw.class_names.is_empty());
    assert_eq!(raw.pixels, [2, 2, 2, 2, 1, 1, 1, 1]);

    let empty = tempfile::tempdir().unwrap();
    let err = load_image_folder(empty.path(), 1, 2, 2, &Preprocess::default()).unwrap_err();
    assert!(matches!(err, DataError::NoImages { .. }), "{err}");
    let err = load_image_folder(
        &empty.path().join("missing"),
        1,
        2,
        2,
        &Preprocess::default(),
    )
    .unwrap_err();
    assert!(matches!(err, DataError::NotFound { .. }), "{err}");
}

#[cfg(not(target_arch = "wasm32"))] // reads files
#[test]
fn corrupt_png_error_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.png"), gray_png(2, 2, 0)).unwrap();
    std::fs::write(
        dir.path().join("broken.png"),
        b"\x89PNG\r\n\x1a\nnot really",
    )
    .unwrap();
    let err = load_image_folder(dir.path(), 1, 2, 2, &Preprocess::default()).unwrap_err();
    let DataError::Decode { file, .. } = &err else {
        panic!("{err}");
    };
    assert!(file.ends_with("broken.png"), "{file}");
    assert!(err.to_string().contains("broken.png"), "{err}");
}

#[test]
fn decode_images_rgb_is_planar() {
    // One row of two pixels: (10, 20, 30), (40, 50, 60).
    let img = image::RgbImage::from_raw(2, 1, vec![10, 20, 30, 40, 50, 60]).unwrap();
    let mut png = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut png, image::ImageFormat::Png)
        .unwrap();
    let raw = decode_images(
        &[("one.png".into(), png.into_inner())],
        3,
        1,
        2,
        &Preprocess::default(),
    )
    .unwrap();
    assert_eq!(raw.pixels, [10, 40, 20, 50, 30, 60]);
    assert_eq!(raw.labels, None);
}

#[test]
fn decode_images_labels_from_path_prefix() {
    let files = vec![
        ("upload/dogs/b.png".to_owned(), gray_png(1, 1, 2)),
        ("upload/cats/a.png".to_owned(), gray_png(1, 1, 1)),
        ("upload/cats/readme.md".to_owned(), b"skip".to_vec()),
        ("upload/dogs/c.JPG".to_owned(), gray_png(1, 1, 3)),
    ];
    let raw = decode_images(&files, 1, 1, 1, &Preprocess::default()).unwrap();
    assert_eq!(raw.pixels, [1, 2, 3]);
    assert_eq!(raw.labels, Some(vec![0, 1, 1]));
    assert_eq!(raw.class_names, ["cats", "dogs"]);

    // Bare `class/file` paths label too; a shared folder alone does not.
    let bare = vec![
        ("b/x.png".to_owned(), gray_png(1, 1, 2)),
        ("a\\y.png".to_owned(), gray_png(1, 1, 1)),
    ];
    assert_eq!(
        decode_images(&bare, 1, 1, 1, &Preprocess::default())
            .unwrap()
            .labels,
        Some(vec![0, 1])
    );
    let flat = vec![
        ("root/x.png".to_owned(), gray_png(1, 1, 2)),
        ("root/y.png".to_owned(), gray_png(1, 1, 1)),
    ];
    let raw = decode_images(&flat, 1, 1, 1, &Preprocess::default()).unwrap();
    assert_eq!((raw.labels, raw.pixels), (None, vec![2, 1]));
    // Mixed: not every file has a class, so none are labelled.
    let mixed = vec![
        ("a/x.png".to_owned(), gray_png(1, 1, 2)),
        ("y.png".to_owned(), gray_png(1, 1, 1)),
    ];
    assert_eq!(
        decode_images(&mixed, 1, 1, 1, &Preprocess::default())
            .unwrap()
            .labels,
        None
    );

    let err = decode_images(
        &[("bad.jpg".into(), vec![1, 2, 3])],
        1,
        1,
        1,
        &Preprocess::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("bad.jpg"), "{err}");
}

#[test]
fn decode_images_rejects_bad_targets() {
    let files = vec![("x.png".to_owned(), gray_png(1, 1, 0))];
    assert_eq!(
        decode_images(&files, 2, 1, 1, &Preprocess::default()).unwrap_err(),
        DataError::Channels { channels: 2 }
    );
    assert!(matches!(
        decode_images(&files, 1, 0, 1, &Preprocess::default()),
        Err(DataError::Size { .. })
    ));
    assert!(matches!(
        decode_images(&[], 1, 1, 1, &Preprocess::default()),
        Err(DataError::NoImages { .. })
    ));
}

/// Resize the shorter side to `n` (no crop).
fn shorter_side(n: usize) -> Preprocess {
    Preprocess {
        resize: Some(n),
        ..Preprocess::default()
    }
}

/// A PNG that declares a `w×h` 8-bit gray canvas but holds a few bytes of pixel data.
fn declared_png(w: u32, h: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend_from_slice(&crc.sum().to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit gray, deflate, no filter, no interlace
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &gz(&[0; 64])[10..]); // some deflate data, far too little
    chunk(&mut out, b"IEND", &[]);
    out
}

#[test]
fn an_image_declaring_a_huge_canvas_is_refused_before_it_is_decoded() {
    // 12 000 × 12 000 is past MAX_IMAGE_PIXELS; 20 000 wide is past the side limit; 2 000 × 2 000
    // is within both but not from a file of a hundred bytes.
    for (w, h) in [(12_000, 12_000), (20_000, 10), (10, 20_000), (2_000, 2_000)] {
        let files = vec![("big.png".to_string(), declared_png(w, h))];
        for err in [
            decode_images(&files, 1, 4, 4, &Preprocess::default()).unwrap_err(),
            count_decodable(&files).unwrap_err(),
        ] {
            let DataError::Decode { file, reason } = &err else {
                panic!("{err}");
            };
            assert_eq!(file, "big.png");
            assert!(reason.to_lowercase().contains("limit"), "{w}×{h}: {reason}");
        }
    }
    // Within the limits the same kind of file is decoded far enough to find its data short.
    let files = vec![("ok.png".to_string(), declared_png(64, 64))];
    let err = count_decodable(&files).unwrap_err().to_string();
    assert!(!err.to_lowercase().contains("limit"), "{err}");
}

#[test]
fn a_jpeg_of_248_bytes_declaring_31_megapixels_is_refused_at_once() {
    // Found by the `images` fuzz target (it took 1.9 s to decode): a progressive JPEG header of
    // 5120 × 6144 pixels and almost no data. The seed's first byte is the target's mode.
    let seed =
        include_bytes!("../../../fuzz/seeds/images/regression-jpeg-31-megapixels-in-248-bytes");
    let files = vec![("a.jpg".to_string(), seed[1..].to_vec())];
    let err = count_decodable(&files).unwrap_err().to_string();
    assert!(err.contains("declares 5120 × 6144 pixels"), "{err}");
    assert!(err.contains("a.jpg"), "{err}");
}

/// The committed photos of `tests/fixtures/rgb224/images` resized (shorter side 248, bicubic) and
/// centre-cropped to 224 by vitscape against the same photos after timm's own eval transform
/// (`cropped/`, written by PIL through torchvision: `tests/reference/rgb224.py`), pixel by pixel.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn resize_and_crop_match_timms_pil_pipeline_within_two_levels() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rgb224");
    let pre = Preprocess {
        resize: Some(248),
        crop: Some(224),
        interpolation: Interpolation::Bicubic,
    };
    let ours = load_image_folder(&root.join("images"), 3, 224, 224, &pre).unwrap();
    let timm =
        load_image_folder(&root.join("cropped"), 3, 224, 224, &Preprocess::default()).unwrap();
    assert_eq!((ours.n, timm.n), (8, 8));
    assert_eq!(ours.labels, timm.labels);
    let (mut largest, mut differ) = (0u8, 0usize);
    for (a, b) in ours.pixels.iter().zip(&timm.pixels) {
        largest = largest.max(a.abs_diff(*b));
        differ += usize::from(a != b);
    }
    // Pillow and fast_image_resize round their fixed-point coefficients differently, so a few
    // values move by a level or two; the image crate's f32 filters were up to 16 levels off on
    // 14 % of the values, and a filter in the wrong pass order too.
    assert!(largest <= 2, "largest difference {largest} levels");
    assert!(
        differ * 100 < ours.pixels.len(),
        "{differ} of {} values differ",
        ours.pixels.len()
    );
}

/// A PNG whose palette is 686 bytes (228⅔ entries): the `png` crate panics on it while decoding
/// (found by fuzzing, `fuzz/seeds/images/regression-png-palette-of-686-bytes`, whose first byte
/// is the harness's mode). vitscape refuses it first, naming the chunk.
#[test]
fn a_png_with_a_palette_of_a_fractional_entry_count_is_refused_without_a_panic() {
    let input = include_bytes!("../../../fuzz/seeds/images/regression-png-palette-of-686-bytes");
    let png = &input[1..];
    for channels in [1, 3] {
        let err = decode_images(
            &[("a/bad.png".to_owned(), png.to_vec())],
            channels,
            16,
            16,
            &Preprocess::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("bad.png") && err.contains("PLTE"), "{err}");
    }
    let err = count_decodable(&[("bad.png".to_owned(), png.to_vec())])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad.png") && err.contains("(PLTE chunk) is 686 bytes"),
        "{err}"
    );
}
