//! Reading from disk (native only): Fashion-MNIST from the Debian package and image folders.

use super::*;

/// Reads a whole file; a missing file becomes [`DataError::NotFound`] with `what` and `hint`.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn read_file(
    path: &std::path::Path,
    what: &str,
    hint: &str,
) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            DataError::NotFound {
                what: what.to_owned(),
                path: path.display().to_string(),
                hint: hint.to_owned(),
            }
        } else {
            DataError::Io {
                path: path.display().to_string(),
                reason: e.to_string(),
            }
        }
    })
}

/// Loads one split of Fashion-MNIST from `dir` (the four `*-ubyte.gz` files of the original
/// distribution, as installed by Debian's `dataset-fashion-mnist` in [`DEBIAN_FASHION_MNIST`]).
///
/// Returns `c = 1`, 28×28 images with labels and [`FASHION_MNIST_CLASSES`] as class names.
#[cfg(not(target_arch = "wasm32"))]
pub fn load_fashion_mnist(
    dir: &std::path::Path,
    split: crate::spec::Split,
) -> Result<RawImages, DataError> {
    let hint = format!(
        "install it with `apt-get install dataset-fashion-mnist` (files go to \
         {DEBIAN_FASHION_MNIST}) or pass --data-dir DIR holding the four *-ubyte.gz files"
    );
    if !dir.is_dir() {
        return Err(DataError::NotFound {
            what: "Fashion-MNIST directory".to_owned(),
            path: dir.display().to_string(),
            hint,
        });
    }
    let prefix = match split {
        crate::spec::Split::Train => "train",
        crate::spec::Split::Test => "t10k",
    };
    let images_path = dir.join(format!("{prefix}-images-idx3-ubyte.gz"));
    let labels_path = dir.join(format!("{prefix}-labels-idx1-ubyte.gz"));
    let in_file = |path: &std::path::Path| {
        let file = path.display().to_string();
        move |e: DataError| DataError::InFile {
            file,
            source: Box::new(e),
        }
    };
    let images_gz = read_file(&images_path, "Fashion-MNIST file", &hint)?;
    let labels_gz = read_file(&labels_path, "Fashion-MNIST file", &hint)?;
    let (n, h, w, pixels) = parse_idx_images(&images_gz).map_err(in_file(&images_path))?;
    let labels = parse_idx_labels(&labels_gz).map_err(in_file(&labels_path))?;
    if labels.len() != n {
        return Err(in_file(&labels_path)(DataError::LabelCount {
            images: n,
            labels: labels.len(),
        }));
    }
    Ok(RawImages {
        pixels,
        labels: Some(labels),
        class_names: FASHION_MNIST_CLASSES.map(str::to_owned).to_vec(),
        n,
        c: 1,
        h,
        w,
    })
}

/// The entries of `dir`, sorted by path, without hidden ones (names starting with `.`).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn sorted_entries(dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>, DataError> {
    let io_err = |e: std::io::Error| DataError::Io {
        path: dir.display().to_string(),
        reason: e.to_string(),
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err)? {
        let path = entry.map_err(io_err)?.path();
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if !hidden {
            paths.push(path);
        }
    }
    paths.sort();
    Ok(paths)
}

/// Image files under `dir` (recursively, at most [`MAX_FOLDER_DEPTH`] deep), sorted by path.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn image_files(
    dir: &std::path::Path,
    depth: usize,
    out: &mut Vec<std::path::PathBuf>,
) -> Result<(), DataError> {
    if depth > MAX_FOLDER_DEPTH {
        return Err(DataError::TooDeep {
            path: dir.display().to_string(),
            max_depth: MAX_FOLDER_DEPTH,
        });
    }
    for path in sorted_entries(dir)? {
        if path.is_dir() {
            image_files(&path, depth + 1, out)?;
        } else if is_image_name(&path.to_string_lossy()) {
            out.push(path);
        }
    }
    Ok(())
}

/// Loads a folder of images.
///
/// If `dir` has sub-folders, each (sorted by name) is a class and its images — searched
/// recursively — carry its index as label (torchvision's ImageFolder); loose files next to the
/// class folders are ignored. Without sub-folders, the images directly in `dir` are unlabelled.
/// Hidden entries (`.name`) are skipped. Accepts `.png`, `.jpg`, `.jpeg` (any case), sorted by
/// path; each image is converted to `channels` (1 = grayscale, 3 = RGB), resized and cropped as
/// `pre` says, and must then be `h×w`. Errors name the file that failed.
#[cfg(not(target_arch = "wasm32"))]
pub fn load_image_folder(
    dir: &std::path::Path,
    channels: usize,
    h: usize,
    w: usize,
    pre: &Preprocess,
) -> Result<RawImages, DataError> {
    let size = check_target(channels, h, w)?;
    if !dir.is_dir() {
        return Err(DataError::NotFound {
            what: "image folder".to_owned(),
            path: dir.display().to_string(),
            hint: "pass a directory holding .png/.jpg images, or one sub-folder of them per class"
                .to_owned(),
        });
    }
    let entries = sorted_entries(dir)?;
    let class_dirs: Vec<_> = entries.iter().filter(|p| p.is_dir()).collect();
    // (path, label) in the order the images will have.
    let mut files: Vec<(std::path::PathBuf, Option<i64>)> = Vec::new();
    let mut class_names = Vec::new();
    if class_dirs.is_empty() {
        files.extend(
            entries
                .iter()
                .filter(|p| is_image_name(&p.to_string_lossy()))
                .map(|p| (p.clone(), None)),
        );
    } else {
        for (label, class_dir) in (0i64..).zip(&class_dirs) {
            let mut found = Vec::new();
            image_files(class_dir, 0, &mut found)?;
            files.extend(found.into_iter().map(|p| (p, Some(label))));
            let name = class_dir.file_name().unwrap_or_default();
            class_names.push(name.to_string_lossy().into_owned());
        }
    }
    if files.is_empty() {
        return Err(DataError::NoImages {
            place: format!("`{}`", dir.display()),
        });
    }

    let mut pixels = Vec::with_capacity((channels * h * w).saturating_mul(files.len()));
    for (path, _) in &files {
        let file = path.display().to_string();
        let bytes = read_file(path, "image", "it disappeared while reading the folder")?;
        decode_one(&file, &bytes, channels, size, pre, &mut pixels)?;
    }
    let labels = files
        .iter()
        .map(|(_, label)| *label)
        .collect::<Option<Vec<_>>>();
    Ok(RawImages {
        pixels,
        labels,
        class_names,
        n: files.len(),
        c: channels,
        h,
        w,
    })
}
