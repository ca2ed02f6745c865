//! A tiny reader/writer for NumPy `.npy` files (version 1.0, little-endian f8 / i8, C order), used
//! to exchange data with the scikit-learn reference scripts and the benchmark.

use std::io::{Read, Write};
use std::path::Path;

use ndarray::{Array2, ArrayView2};

use super::error::{ClassifyError, Result};

fn io_err(path: &Path, e: impl ToString) -> ClassifyError {
    ClassifyError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

fn write_npy(path: &Path, descr: &str, shape: &[usize], data: &[u8]) -> Result<()> {
    let mut f = std::fs::File::create(path).map_err(|e| io_err(path, e))?;
    f.write_all(&crate::npy::npy_bytes(descr, shape, data))
        .map_err(|e| io_err(path, e))
}

/// Writes a 2-D f64 array.
pub(super) fn write_f64_2d(path: &Path, a: ArrayView2<f64>) -> Result<()> {
    let data: Vec<u8> = a.iter().flat_map(|v| v.to_le_bytes()).collect();
    write_npy(path, "<f8", &[a.nrows(), a.ncols()], &data)
}

/// Writes a 1-D i64 array.
pub(super) fn write_i64_1d(path: &Path, v: &[i64]) -> Result<()> {
    let data: Vec<u8> = v.iter().flat_map(|v| v.to_le_bytes()).collect();
    write_npy(path, "<i8", &[v.len()], &data)
}

fn read_npy(path: &Path) -> Result<(String, Vec<usize>, Vec<u8>)> {
    let mut f = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).map_err(|e| io_err(path, e))?;
    if buf.len() < 10 || &buf[..6] != b"\x93NUMPY" {
        return Err(io_err(path, "not an .npy file"));
    }
    let (hlen, off) = match buf[6] {
        1 => (u16::from_le_bytes([buf[8], buf[9]]) as usize, 10),
        2 | 3 => (
            u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]) as usize,
            12,
        ),
        v => return Err(io_err(path, format!("unsupported npy version {v}"))),
    };
    let header = std::str::from_utf8(&buf[off..off + hlen]).map_err(|e| io_err(path, e))?;
    let get = |key: &str| -> Result<&str> {
        let i = header
            .find(key)
            .ok_or_else(|| io_err(path, format!("no {key} in header")))?;
        Ok(&header[i + key.len()..])
    };
    let descr = get("'descr':")?.trim_start().trim_start_matches('\'');
    let descr = descr[..descr.find('\'').unwrap_or(0)].to_string();
    if get("'fortran_order':")?.trim_start().starts_with("True") {
        return Err(io_err(path, "fortran_order arrays are not supported"));
    }
    let sh = get("'shape':")?;
    let sh = &sh[sh.find('(').unwrap_or(0) + 1..sh.find(')').unwrap_or(0)];
    let shape: Vec<usize> = sh
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|e| io_err(path, e)))
        .collect::<Result<_>>()?;
    Ok((descr, shape, buf[off + hlen..].to_vec()))
}

/// Reads a 2-D `<f8` array (a 1-D one becomes one column).
pub(super) fn read_f64_2d(path: &Path) -> Result<Array2<f64>> {
    let (descr, shape, data) = read_npy(path)?;
    if descr != "<f8" {
        return Err(io_err(path, format!("dtype {descr}, expected <f8")));
    }
    let (r, c) = match shape[..] {
        [r, c] => (r, c),
        [r] => (r, 1),
        _ => return Err(io_err(path, format!("shape {shape:?} is not 1-D or 2-D"))),
    };
    let v: Vec<f64> = data
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect();
    Array2::from_shape_vec((r, c), v).map_err(|e| io_err(path, e))
}

/// Reads a 1-D `<i8` array.
pub(super) fn read_i64_1d(path: &Path) -> Result<Vec<i64>> {
    let (descr, shape, data) = read_npy(path)?;
    if descr != "<i8" || shape.len() != 1 {
        return Err(io_err(
            path,
            format!("dtype {descr} shape {shape:?}, expected 1-D <i8"),
        ));
    }
    Ok(data
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect())
}
