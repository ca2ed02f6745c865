//! The bytes of a NumPy `.npy` file (format version 1.0), written by hand: the format is a
//! short text header and the raw array, and no crate of the chosen base writes it (the `npy`
//! crates pull in their own array types). Readers: `numpy.load`; lrx's tests read them back
//! through `classify::npy`.

/// The bytes of a `.npy` file (version 1.0, C order) holding `data` (already little-endian)
/// of type `descr` (`<f8`, `<f4`, `<i8`) and `shape`. Also used by the observer to export
/// activations (`observe { save_activations = true }`).
pub(crate) fn npy_bytes(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let shape_s = match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_s}, }}");
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}
