//! The detector network ([`DetectorNet`], shaped by [`DetectorNetConfig`]): fully
//! convolutional, so one pass over a whole pyramid level scores every window of it, and
//! the same weights re-read a single resampled window to refine a box.
use burn::nn::Relu;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::prelude::*;

pub use crate::config::DetectorNetConfig;

/// Outputs per window: the face logit, the framing box's centre offset (x, y, in windows),
/// its log size (in windows), and the sine and cosine of its in-plane turn.
pub const OUTPUTS: usize = 6;

impl DetectorNetConfig {
    /// The network with fresh weights (the config must validate).
    pub fn init(&self, device: &Device) -> DetectorNet {
        let mut blocks = Vec::with_capacity(self.channels.len());
        let mut in_ch = 1;
        for &c in &self.channels {
            blocks.push(Conv2dConfig::new([in_ch, c], [3, 3]).init(device));
            in_ch = c;
        }
        let k = self.head_kernel();
        DetectorNet {
            blocks,
            head: Conv2dConfig::new([in_ch, self.head], [k, k]).init(device),
            out: Conv2dConfig::new([self.head, OUTPUTS], [1, 1]).init(device),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            relu: Relu::new(),
        }
    }
}

#[derive(Module, Debug)]
pub struct DetectorNet {
    blocks: Vec<Conv2d>,
    head: Conv2d,
    out: Conv2d,
    pool: MaxPool2d,
    relu: Relu,
}

impl DetectorNet {
    /// Grey images `[B, 1, H, W]` (values centred: pixel − 0.5) → `[B, 6, h, w]`, one
    /// column of outputs per window position (a window alone gives `h = w = 1`).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut x = x;
        let last = self.blocks.len() - 1;
        for (i, conv) in self.blocks.iter().enumerate() {
            x = self.relu.forward(conv.forward(x));
            if i < last {
                x = self.pool.forward(x);
            }
        }
        self.out.forward(self.relu.forward(self.head.forward(x)))
    }

    /// Windows `[B, 1, S, S]` → outputs `[B, 6]`.
    pub fn forward_windows(&self, x: Tensor<4>) -> Tensor<2> {
        let b = x.dims()[0];
        self.forward(x).reshape([b, OUTPUTS])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Backend, device};

    #[test]
    fn sliding_the_network_over_an_image_gives_each_window_what_it_gives_alone() {
        let dev = device(Backend::Flex).unwrap();
        let cfg = DetectorNetConfig { window: 32, channels: vec![4, 8, 8], head: 8 };
        assert_eq!((cfg.head_kernel(), cfg.stride()), (4, 4));
        let net = cfg.init(&dev);
        let img = Tensor::<4>::random([1, 1, 40, 44], burn::tensor::Distribution::Default, &dev);
        let all = net.forward(img.clone());
        assert_eq!(all.dims(), [1, OUTPUTS, 3, 4]);
        for (oy, ox) in [(0, 0), (2, 3), (1, 2)] {
            let (y, x) = (oy * cfg.stride(), ox * cfg.stride());
            let alone = net.forward_windows(img.clone().slice([0..1, 0..1, y..y + 32, x..x + 32]));
            let slid = all.clone().slice([0..1, 0..OUTPUTS, oy..oy + 1, ox..ox + 1]).reshape([1, OUTPUTS]);
            let d = (alone - slid).abs().max().into_scalar::<f32>();
            assert!(d < 1e-4, "window at ({y}, {x}) differs by {d}");
        }
    }
}
