//! A PNG's printed resolution: the pHYs chunk (pixels per metre), which page-layout programs read
//! to size an image. Neither the `image` crate's encoder nor a browser canvas writes one, so it is
//! set on the encoded bytes: the same code for the CLI's figures and the page's.

use super::PlotError;

const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";
const METRES_PER_INCH: f64 = 0.0254;

/// The PNG `png` with its resolution set to `dpi` pixels per inch: a pHYs chunk (in pixels per
/// metre) right after IHDR, replacing any it had. Every other chunk is kept as it is.
pub fn with_resolution(png: &[u8], dpi: f64) -> Result<Vec<u8>, PlotError> {
    let bad = |why: &str| PlotError::Backend(format!("not a PNG the figure can mark: {why}"));
    if !(dpi.is_finite() && dpi > 0.0) {
        return Err(bad("the resolution must be a positive number"));
    }
    let body = png
        .strip_prefix(SIGNATURE)
        .ok_or_else(|| bad("no PNG signature"))?;
    let per_metre = (dpi / METRES_PER_INCH).round() as u32;
    let mut phys = Vec::with_capacity(9);
    phys.extend_from_slice(&per_metre.to_be_bytes());
    phys.extend_from_slice(&per_metre.to_be_bytes());
    phys.push(1); // the unit is the metre
    let mut out = Vec::with_capacity(png.len() + 21);
    out.extend_from_slice(SIGNATURE);
    let mut rest = body;
    let mut first = true;
    while !rest.is_empty() {
        let header: [u8; 8] = rest
            .get(..8)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| bad("a chunk is cut short"))?;
        let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let kind = &header[4..8];
        let total = length
            .checked_add(12)
            .filter(|t| *t <= rest.len())
            .ok_or_else(|| bad("a chunk runs past the end"))?;
        if first && kind != b"IHDR" {
            return Err(bad("the first chunk is not IHDR"));
        }
        if kind != b"pHYs" {
            out.extend_from_slice(&rest[..total]);
        }
        if first {
            chunk(&mut out, b"pHYs", &phys);
            first = false;
        }
        rest = &rest[total..];
    }
    Ok(out)
}

/// The resolution a PNG records, in pixels per inch (x, y), if it has a pHYs chunk in metres.
pub fn resolution_of(png: &[u8]) -> Option<(f64, f64)> {
    let mut rest = png.strip_prefix(SIGNATURE)?;
    while rest.len() >= 12 {
        let length = u32::from_be_bytes(rest[..4].try_into().ok()?) as usize;
        let data = rest.get(8..8 + length)?;
        if &rest[4..8] == b"pHYs" && length == 9 && data[8] == 1 {
            let x = u32::from_be_bytes(data[..4].try_into().ok()?);
            let y = u32::from_be_bytes(data[4..8].try_into().ok()?);
            return Some((
                f64::from(x) * METRES_PER_INCH,
                f64::from(y) * METRES_PER_INCH,
            ));
        }
        rest = rest.get(length + 12..)?;
    }
    None
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_png() -> Vec<u8> {
        let mut bytes = std::io::Cursor::new(Vec::new());
        image::RgbImage::from_pixel(3, 2, image::Rgb([10, 20, 30]))
            .write_to(&mut bytes, image::ImageFormat::Png)
            .unwrap();
        bytes.into_inner()
    }

    #[test]
    fn the_resolution_is_recorded_and_the_image_unchanged() {
        let png = tiny_png();
        assert_eq!(resolution_of(&png), None);
        let marked = with_resolution(&png, 300.0).unwrap();
        let (x, y) = resolution_of(&marked).unwrap();
        assert!(
            (x - 300.0).abs() < 0.01 && (y - 300.0).abs() < 0.01,
            "{x} {y}"
        );
        // Marked again: one pHYs, the new value.
        let again = with_resolution(&marked, 600.0).unwrap();
        assert_eq!(again.windows(4).filter(|w| w == b"pHYs").count(), 1);
        assert!((resolution_of(&again).unwrap().0 - 600.0).abs() < 0.01);
        // Decoders accept it (the CRC is right) and see the same pixels.
        let decoded = image::load_from_memory(&again).unwrap().to_rgb8();
        assert_eq!(decoded.dimensions(), (3, 2));
        assert_eq!(decoded.get_pixel(2, 1), &image::Rgb([10, 20, 30]));
    }

    #[test]
    fn broken_pngs_are_refused_with_a_reason() {
        let png = tiny_png();
        for (bytes, why) in [
            (b"GIF89a".to_vec(), "no PNG signature"),
            (png[..png.len() - 5].to_vec(), "cut short"),
            (png[..20].to_vec(), "runs past the end"),
        ] {
            let err = with_resolution(&bytes, 300.0).unwrap_err().to_string();
            assert!(err.contains(why), "{err}");
        }
        assert!(with_resolution(&png, f64::NAN).is_err());
    }
}
