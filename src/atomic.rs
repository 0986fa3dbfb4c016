//! Output files written whole or not at all (native only): the bytes go to a uniquely named
//! temporary file beside the target, which is flushed to disk and then renamed over it. A
//! process killed mid-write leaves the previous file; a full disk gives an error naming the file,
//! the previous file intact and no temporary file behind (`tempfile` removes it when dropped).

use std::io::Write;
use std::path::Path;

/// Write `bytes` to `path` atomically. The error names `path`.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let named = |e: std::io::Error| {
        std::io::Error::new(e.kind(), format!("writing {}: {e}", path.display()))
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".vitscape-").suffix(".tmp");
    // A temporary file is private (0600); an output keeps the old file's mode, or is readable by
    // all as a plain `std::fs::write` would leave it (a shared cluster volume needs that).
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777);
        std::fs::Permissions::from_mode(mode)
    };
    #[cfg(unix)]
    builder.permissions(mode);
    let mut file = builder.tempfile_in(dir).map_err(named)?;
    file.as_file_mut().write_all(bytes).map_err(named)?;
    file.as_file().sync_all().map_err(named)?;
    file.persist(path).map_err(|e| named(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write(&path, b"one").unwrap();
        write(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644, "{mode:o}");
        }
    }

    #[test]
    fn a_failed_write_names_the_file_and_keeps_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-folder/a.json");
        let e = write(&missing, b"x").unwrap_err();
        assert!(e.to_string().contains("no-such-folder/a.json"), "{e}");
    }
}
