//! Output files written whole or not at all (native only): the bytes go to a uniquely named
//! temporary file beside the target, which is flushed to disk and then renamed over it. A
//! process killed mid-write leaves the previous file; a full disk gives an error naming the file,
//! the previous file intact and no temporary file behind (`tempfile` removes it when dropped).
//!
//! Only SIGKILL (or a power cut) leaves a temporary file: its name says which host and process
//! wrote it (`.vitscape-HOST-PID-XXXXXX.tmp`), so the next run in that folder removes the ones
//! whose process is gone ([`remove_stale`]) and no other.

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
    let prefix = format!("{PREFIX}{}-{}-", host(), std::process::id());
    builder.prefix(&prefix).suffix(SUFFIX);
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

const PREFIX: &str = ".vitscape-";
const SUFFIX: &str = ".tmp";

/// This machine's name (Linux's `/proc/sys/kernel/hostname`; "host" where there is none), with
/// anything but letters, digits, `.` and `_` dropped so that it cannot contain the `-` separator.
fn host() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let clean: String = name
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '_')
        .collect();
    if clean.is_empty() {
        "host".into()
    } else {
        clean
    }
}

/// Whether process `pid` is alive on this machine; `None` where that cannot be told (no `/proc`).
fn alive(pid: u32) -> Option<bool> {
    let proc = Path::new("/proc");
    proc.join("self")
        .exists()
        .then(|| proc.join(pid.to_string()).exists())
}

/// Remove the temporary files in `dir` that a killed run on this machine left behind: named for
/// this host and a process that no longer exists. Files of live processes, of other machines (a
/// shared volume) and of anything else are left alone, as is everything where liveness cannot be
/// told. Returns the files removed.
pub fn remove_stale(dir: &Path) -> Vec<std::path::PathBuf> {
    let ours = format!("{PREFIX}{}-", host());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix(&ours))
            .filter(|r| r.ends_with(SUFFIX))
        else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id()
            && alive(pid) == Some(false)
            && std::fs::remove_file(entry.path()).is_ok()
        {
            removed.push(entry.path());
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_temporary_files_of_dead_processes_are_removed_and_no_others() {
        let dir = tempfile::tempdir().unwrap();
        // A process that has exited: its PID is free (a child we waited for).
        let dead = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = dead.id();
        let mut dead = dead;
        dead.wait().unwrap();
        let me = std::process::id();
        let h = host();
        let names = [
            format!(".vitscape-{h}-{dead_pid}-abc123.tmp"), // removed
            format!(".vitscape-{h}-{me}-def456.tmp"),       // ours, in use
            format!(".vitscape-otherhost-{dead_pid}-x.tmp"), // another machine's
            ".vitscape-oldstyle.tmp".to_string(),           // no owner to tell
            "surface.json".to_string(),
        ];
        for n in &names {
            std::fs::write(dir.path().join(n), b"x").unwrap();
        }
        let removed = remove_stale(dir.path());
        if alive(dead_pid) == Some(false) {
            assert_eq!(removed, vec![dir.path().join(&names[0])]);
        }
        for n in &names[1..] {
            assert!(dir.path().join(n).exists(), "{n} was removed");
        }
        // What `write` leaves while it works is named so that this finds it.
        assert!(!host().contains('-'));
    }

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
