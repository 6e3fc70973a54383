//! The node profile as a TOML file (`--node-profile FILE`, beside the `--node-*` flags): how
//! faultline finds, starts and partitions the user's service on each SSH host ("run" step,
//! read at planning).
//!
//! ```toml
//! pid = "cat /run/mydb.pid"          # prints the service's main pid (kill, pause)
//! start = "systemctl start mydb"     # starts it in the background (restart after kill)
//! stop = "systemctl stop mydb"       # accepted; faultline does not run it (kill is SIGKILL)
//! peer-ports = [7000, 7001]          # partitions cut only these TCP ports
//! ```
//!
//! An unknown key, a wrong type or a bad value is an error naming `FILE:LINE` and the key
//! (exit 254).

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The file's keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NodeProfile {
    /// A command printing the service's main pid.
    pub pid: Option<String>,
    /// A command starting the service in the background.
    pub start: Option<String>,
    /// A command stopping the service (read, not run: faultline kills with SIGKILL).
    pub stop: Option<String>,
    /// The service's peer ports.
    #[serde(default)]
    pub peer_ports: Vec<u16>,
}

/// Why a node profile file was refused.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct ProfileError {
    /// The file.
    pub file: PathBuf,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong (naming the key).
    pub message: String,
}

impl NodeProfile {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<NodeProfile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|e| ProfileError {
            file: path.to_path_buf(),
            line: None,
            message: format!("cannot read the node profile: {e}"),
        })?;
        Self::parse(path, &text)
    }

    /// Parses `text` (the contents of `path`).
    pub fn parse(path: &Path, text: &str) -> Result<NodeProfile, ProfileError> {
        let p: NodeProfile = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            let key = line
                .and_then(|l| text.lines().nth(l - 1))
                .and_then(|l| l.split_once('='))
                .map(|(k, _)| k.trim().to_string())
                .filter(|k| !k.is_empty() && !e.message().contains('`'));
            ProfileError {
                file: path.to_path_buf(),
                line,
                message: format!(
                    "{}{}; expected the keys pid, start, stop (strings) and peer-ports (a \
                     list of port numbers)",
                    key.map(|k| format!("key `{k}`: ")).unwrap_or_default(),
                    e.message().trim()
                ),
            }
        })?;
        for (key, value) in [("pid", &p.pid), ("start", &p.start), ("stop", &p.stop)] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                let line = text
                    .lines()
                    .position(|l| l.trim_start().starts_with(key))
                    .map(|i| i + 1);
                return Err(ProfileError {
                    file: path.to_path_buf(),
                    line,
                    message: format!("key `{key}`: empty command"),
                });
            }
        }
        if p.peer_ports.contains(&0) {
            return Err(ProfileError {
                file: path.to_path_buf(),
                line: text
                    .lines()
                    .position(|l| l.trim_start().starts_with("peer-ports"))
                    .map(|i| i + 1),
                message: "key `peer-ports`: port 0; expected ports 1-65535".into(),
            });
        }
        Ok(p)
    }
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_profile_file_is_read_and_bad_keys_name_file_line_and_key() {
        let f = Path::new("p.toml");
        let p = NodeProfile::parse(
            f,
            "pid = \"cat /run/x.pid\"\nstart = \"sh start.sh\"\npeer-ports = [7000]\n",
        )
        .unwrap();
        assert_eq!(p.pid.as_deref(), Some("cat /run/x.pid"));
        assert_eq!(p.peer_ports, vec![7000]);
        let e = NodeProfile::parse(f, "pid = \"x\"\npdi = \"y\"\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.to_string().starts_with("p.toml:2: "), "{e}");
        assert!(e.to_string().contains("pdi"), "{e}");
        let e = NodeProfile::parse(f, "pid = \"x\"\npeer-ports = [\"a\"]\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        let e = NodeProfile::parse(f, "\n\nstart = \"\"\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.to_string().contains("`start`"), "{e}");
        let e = NodeProfile::parse(f, "peer-ports = [0]\n").unwrap_err();
        assert!(e.to_string().contains("peer-ports"), "{e}");
    }
}
