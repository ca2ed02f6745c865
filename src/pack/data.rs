//! Checksums of a study pack's files (SHA-256), and the files a task reads (from
//! [`crate::datafiles`], re-exported here).

pub(crate) use crate::datafiles::{Location, relative, task_files};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// Copies `r` to `w` in 1 MiB blocks and returns the SHA-256 (lower-case hex) and size of
/// what it copied (`std::io::sink()` to only hash).
pub(crate) fn sha256_copy(
    r: &mut impl Read,
    w: &mut impl std::io::Write,
) -> std::io::Result<(String, u64)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        w.write_all(&buf[..k])?;
        n += k as u64;
    }
    w.flush()?;
    Ok((crate::value::hex(&h.finalize()), n))
}

/// SHA-256 (lower-case hex) and size in bytes of a file.
pub(crate) fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    sha256_copy(&mut std::fs::File::open(path)?, &mut std::io::sink())
}

/// SHA-256 (lower-case hex) of bytes in memory.
pub(crate) fn sha256(bytes: &[u8]) -> String {
    crate::value::hex(&Sha256::digest(bytes))
}
