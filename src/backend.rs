//! The one place where a compute device is chosen; everything else takes a `&Device`.
use burn::prelude::{Device, Tensor};
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

/// How long the first GPU computation may take (adapter start and shader compilation
/// included) before we give up on the GPU rather than hang.
#[cfg(feature = "gpu")]
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// The wgpu device, probed with one tiny computation: wgpu picks its adapter lazily and
/// panics deep inside when there is none, so the probe turns that into an error here.
/// The device is pinned to Vulkan (Metal on macOS): on a machine without a GPU, unpinned
/// wgpu took a GL software adapter that passed a probe and then panicked on wgpu's own
/// poll thread, hanging the run. The probe runs on its own thread with a time limit so a
/// driver that never answers is an error too.
#[cfg(feature = "gpu")]
fn wgpu_device() -> Result<Device> {
    use burn::prelude::DeviceKind;
    let probe = || {
        #[cfg(target_os = "macos")]
        let device = Device::wgpu(DeviceKind::DefaultDevice);
        #[cfg(not(target_os = "macos"))]
        let device = Device::vulkan(DeviceKind::DefaultDevice);
        let sum: f32 = Tensor::<1>::ones([4], &device).sum().into_scalar();
        (sum == 4.0).then_some(device)
    };
    // The panic message of a missing adapter is long and not for users: keep it quiet.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(probe));
    });
    let outcome = rx.recv_timeout(PROBE_TIMEOUT);
    std::panic::set_hook(hook);
    let fallback = "use the CPU with `--backend flex`";
    match outcome {
        Ok(Ok(Some(device))) => Ok(device),
        Ok(Ok(None)) => Err(Error::Invalid(format!("the GPU (wgpu) gave a wrong result on a test sum; {fallback}"))),
        Ok(Err(panic)) => {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown reason");
            let why = why.lines().next().unwrap_or(why);
            Err(Error::Invalid(format!("no usable GPU: wgpu found no Vulkan/Metal adapter ({why}); {fallback}")))
        }
        Err(_) => Err(Error::Invalid(format!("the GPU (wgpu) did not answer a test sum within {} s; {fallback}", PROBE_TIMEOUT.as_secs()))),
    }
}

#[cfg(not(feature = "gpu"))]
fn wgpu_device() -> Result<Device> {
    Err(Error::Invalid(
        "this facemb was built without GPU support: rebuild with `cargo build --release --features gpu`, \
         or use the CPU with `--backend flex`"
            .into(),
    ))
}

/// A tensor's values on the host, as f32 (what `infer` writes and training scores).
pub fn to_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    t.into_data().try_to_vec::<f32>().map_err(|e| Error::Compute { what: "reading tensor", reason: format!("{e:?}") })
}
