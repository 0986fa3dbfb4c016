//! The command line that recomputes a spec (the page's "Copy CLI command"): `vitscape sweep
//! --spec '<the spec as JSON>'`, quoted for a POSIX shell, searching the demo folder of a vitscape
//! checkout and the current folder for the files the spec names by sha256.

use super::SweepSpec;
use crate::error::SpecError;

/// `s` as one POSIX shell word.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The `vitscape sweep` command that recomputes `spec` into the folder `out`.
pub fn cli_command(spec: &SweepSpec, out: &str) -> Result<String, SpecError> {
    Ok(format!(
        "vitscape sweep {} --out {}",
        spec_flags(spec)?,
        shell_quote(out)
    ))
}

/// `--spec '<the spec as JSON>'` and the folders searched for the files it names, as every
/// command that reads a spec takes them.
pub fn spec_flags(spec: &SweepSpec) -> Result<String, SpecError> {
    let json = serde_json::to_string(spec)
        .map_err(|e| SpecError::Source(format!("the spec cannot be written as JSON: {e}")))?;
    Ok(format!(
        "--spec {} --search static/demo --search .",
        shell_quote(&json)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_survive_a_shell() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        #[cfg(unix)]
        {
            let word = "it's \"odd\" $HOME `x` \\ name";
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", shell_quote(word)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), word);
        }
    }
}
