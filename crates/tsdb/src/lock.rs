//! The data directory's `lock` file: an advisory exclusive lock held for the life of the process, so that two
//! servers never write the same directory (Prometheus's `lock DB directory`).

use std::fs::{self, File, TryLockError};
use std::path::Path;

use crate::error::Error;

/// An acquired lock; released when dropped (and by the operating system when the process dies).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Creates `dir` if needed and locks `dir/lock`. Fails when another process holds it.
    pub fn acquire(dir: &Path) -> Result<DirLock, Error> {
        fs::create_dir_all(dir).map_err(Error::io("create data directory", dir))?;
        let path = dir.join("lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(Error::io("open lock file", &path))?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock { _file: file }),
            Err(TryLockError::WouldBlock) => Err(Error::Io {
                op: "lock DB directory",
                path,
                source: std::io::Error::new(
                    std::io::ErrorKind::WouldBlock,
                    "resource temporarily unavailable (is another server using it?)",
                ),
            }),
            Err(TryLockError::Error(e)) => Err(Error::io("lock DB directory", &path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_fails_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = DirLock::acquire(dir.path()).unwrap();
        let err = DirLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(err.starts_with("lock DB directory"), "{err}");
        drop(first);
        DirLock::acquire(dir.path()).unwrap();
    }
}
