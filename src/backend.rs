//! The one place where a compute device is chosen; everything else takes a `&Device`.
use burn::prelude::Device;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// burn-flex: the fast pure-Rust CPU backend (default).
    #[default]
    Flex,
    /// burn-ndarray: CPU, kept for comparison (much slower to train; deprecated in burn 0.22).
    Ndarray,
    /// burn-wgpu: GPU through Vulkan/Metal/DX12; needs a build with `--features gpu`.
    Wgpu,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Flex => "flex",
            Backend::Ndarray => "ndarray",
            Backend::Wgpu => "wgpu",
        })
    }
}

/// The inference device for `backend`; call `.autodiff()` on it to train.
pub fn device(backend: Backend) -> Result<Device> {
    match backend {
        Backend::Flex => Ok(Device::flex()),
        #[allow(deprecated)] // still the only way to select burn-ndarray; see Backend::Ndarray
        Backend::Ndarray => Ok(Device::ndarray()),
        Backend::Wgpu => wgpu_device(),
    }
}

#[cfg(feature = "gpu")]
fn wgpu_device() -> Result<Device> {
    Ok(Device::wgpu(burn::prelude::DeviceKind::DefaultDevice))
}

#[cfg(not(feature = "gpu"))]
fn wgpu_device() -> Result<Device> {
    Err(Error::Invalid(
        "this facemb was built without GPU support: rebuild with `cargo build --release --features gpu`, \
         or use the CPU with `--backend flex`"
            .into(),
    ))
}
