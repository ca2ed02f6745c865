//! Devices: parsing `cpu`, `cuda`, `cuda:N` and `auto`, their names, and libtorch's CPU
//! threads (the CLI reaches libtorch through these).

use crate::exec::engine::error::{EngineError, Result};
use tch::Device;

/// The name of a device as specs and status files write it: `cpu` or `cuda:N`.
pub(crate) fn device_name(device: Device) -> String {
    match device {
        Device::Cuda(i) => format!("cuda:{i}"),
        _ => "cpu".to_string(),
    }
}

/// Sets the number of threads libtorch's CPU kernels use (at least 1).
pub(crate) fn set_threads(n: usize) {
    tch::set_num_threads(n.max(1) as i32);
}

/// Parse `cpu`, `cuda`, `cuda:N` or `auto`.
pub(crate) fn parse_device(spec: &str) -> Result<Device> {
    let err = |msg: String| EngineError::Device {
        spec: spec.to_string(),
        msg,
    };
    match spec {
        "cpu" => Ok(Device::Cpu),
        "auto" => Ok(Device::cuda_if_available()),
        "cuda" => {
            if tch::Cuda::is_available() {
                Ok(Device::Cuda(0))
            } else {
                Err(err(
                    "CUDA was asked for but is not available (no GPU, or libtorch without CUDA)"
                        .into(),
                ))
            }
        }
        s if s.starts_with("cuda:") => {
            let n: usize = s[5..]
                .parse()
                .map_err(|_| err("expected cuda:N with N a device index".into()))?;
            let count = tch::Cuda::device_count() as usize;
            if !tch::Cuda::is_available() {
                Err(err(
                    "CUDA was asked for but is not available (no GPU, or libtorch without CUDA)"
                        .into(),
                ))
            } else if n >= count {
                Err(err(format!(
                    "device index {n} out of range: {count} CUDA device(s)"
                )))
            } else {
                Ok(Device::Cuda(n))
            }
        }
        _ => Err(err("expected cpu, cuda, cuda:N or auto".into())),
    }
}
