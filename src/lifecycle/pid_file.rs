//! `server.pid_file`: written once the sockets are bound (before the start line), removed at
//! exit — unless another process (the one an upgrade started) has written its own pid there
//! since. Pingora writes its pid file only when daemonized, which Rampart never is.

use std::path::{Path, PathBuf};

pub struct PidFile {
    path: PathBuf,
    pid: String,
}

impl PidFile {
    pub fn write(path: &Path) -> std::io::Result<PidFile> {
        let pid = std::process::id().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        // Written whole under a temporary name, then renamed: a reader never sees half a pid.
        let tmp = path.with_extension("pid.tmp");
        std::fs::write(&tmp, format!("{pid}\n"))?;
        std::fs::rename(&tmp, path)?;
        Ok(PidFile {
            path: path.to_path_buf(),
            pid,
        })
    }

    /// Removes the file if it still names this process.
    pub fn remove(&self) {
        let ours = std::fs::read_to_string(&self.path).is_ok_and(|s| s.trim() == self.pid);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_then_removed_only_while_ours() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/rampart.pid");
        let pid = PidFile::write(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().trim(),
            std::process::id().to_string()
        );
        pid.remove();
        assert!(!path.exists());
        let pid = PidFile::write(&path).unwrap();
        std::fs::write(&path, "1\n").unwrap(); // the next process took over
        pid.remove();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "1\n");
    }
}
