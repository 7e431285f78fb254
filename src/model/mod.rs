//! The face / non-face CNN ([`FaceNet`]), its conv block as one fused flex kernel
//! ([`conv_block`]) and checkpoints ([`checkpoint`]). The penultimate layer (after its
//! ReLU) is the embedding `infer` exports; the last layer is a single logit,
//! sigmoid(logit) = P(face). The architecture is [`ModelConfig`], in `config.rs`.
pub mod checkpoint;
pub mod conv_block;

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::prelude::*;

pub use crate::config::ModelConfig;
pub use conv_block::ConvKernel;

impl ModelConfig {
    /// The network this config describes, with fresh weights. The config must have been
    /// validated ([`ModelConfig::validate`], done once where it is read).
    pub fn init(&self, device: &Device) -> FaceNet {
        let mut blocks = Vec::with_capacity(self.channels.len());
        let mut in_ch = self.in_channels;
        for &out_ch in &self.channels {
            blocks.push(ConvBlock {
                conv: Conv2dConfig::new([in_ch, out_ch], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(device),
                pool: MaxPool2dConfig::new([2, 2]).init(),
                relu: Relu::new(),
                norm: self.conv_norm.then(|| BatchNormConfig::new(out_ch).init(device)),
                residual: self.residual.then(|| Residual::new(out_ch, device)),
            });
            in_ch = out_ch;
        }
        let side = self.feature_side();
        let flat = in_ch * side * side;
        FaceNet {
            blocks,
            embed: LinearConfig::new(flat, self.embedding_size).init(device),
            embed_norm: self.embedding_norm.then(|| BatchNormConfig::new(self.embedding_size).init(device)),
            head: LinearConfig::new(self.embedding_size, 1).init(device),
            relu: Relu::new(),
            kernel: ConvKernel::default(),
        }
    }
}

/// Which vector of the penultimate layer `infer` exports.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    /// After its ReLU: what the face / non-face head reads.
    #[default]
    Relu,
    /// Before its ReLU: what a CosFace identity head reads.
    Linear,
}

#[derive(Module, Debug)]
pub struct ConvBlock {
    conv: Conv2d,
    pool: MaxPool2d,
    relu: Relu,
    /// After the pool, so the fused conv → ReLU → pool kernel stays one pass and the
    /// normalisation runs on a quarter of the values.
    norm: Option<BatchNorm>,
    /// After the norm, at the pooled size: depth without another halving of the map.
    residual: Option<Residual>,
}

impl ConvBlock {
    fn forward(&self, x: Tensor<4>, kernel: ConvKernel) -> Tensor<4> {
        let y = self.conv_relu_pool(x, kernel);
        let y = match &self.norm {
            Some(bn) => bn.forward(y),
            None => y,
        };
        match &self.residual {
            Some(r) => r.forward(y),
            None => y,
        }
    }

    fn conv_relu_pool(&self, x: Tensor<4>, kernel: ConvKernel) -> Tensor<4> {
        match (&self.conv.bias, kernel) {
            // One fused kernel on flex (conv_block.rs), burn's own ops on other backends.
            (Some(bias), ConvKernel::Fused) => conv_block::forward(x, self.conv.weight.val(), bias.val()),
            (Some(bias), ConvKernel::Burn) => conv_block::unfused(x, self.conv.weight.val(), bias.val()),
            // Not built by ModelConfig::init; kept so any Conv2d still runs.
            (None, _) => self.pool.forward(self.relu.forward(self.conv.forward(x))),
        }
    }
}

/// x + BN(conv(ReLU(BN(conv(x))))), 3×3 convolutions keeping the channels and size (no
/// ReLU after the sum, so the skip path passes the block's output on unchanged). burn's
/// own conv2d on every backend: no shipped network uses it, so it has no fused kernel.
#[derive(Module, Debug)]
pub struct Residual {
    conv1: Conv2d,
    norm1: BatchNorm,
    conv2: Conv2d,
    norm2: BatchNorm,
    relu: Relu,
}

impl Residual {
    fn new(channels: usize, device: &Device) -> Self {
        let conv = || {
            Conv2dConfig::new([channels, channels], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false) // BatchNorm's shift follows
                .init(device)
        };
        Residual {
            conv1: conv(),
            norm1: BatchNormConfig::new(channels).init(device),
            conv2: conv(),
            norm2: BatchNormConfig::new(channels).init(device),
            relu: Relu::new(),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = self.relu.forward(self.norm1.forward(self.conv1.forward(x.clone())));
        x + self.norm2.forward(self.conv2.forward(y))
    }
}

#[derive(Module, Debug)]
pub struct FaceNet {
    blocks: Vec<ConvBlock>,
    embed: Linear,
    embed_norm: Option<BatchNorm>,
    head: Linear,
    relu: Relu,
    /// How the conv blocks run; not part of the weights (a checkpoint is the same record
    /// whichever ran it).
    #[module(skip)]
    kernel: ConvKernel,
}

impl FaceNet {
    /// The same network running its conv blocks with `kernel` (`facemb bench --unfused`
    /// times burn's own ops beside the fused kernel).
    pub fn with_kernel(mut self, kernel: ConvKernel) -> Self {
        self.kernel = kernel;
        self
    }

    /// `[B, C, S, S]` → embedding `[B, E]`, taken after the ReLU: that is the representation
    /// the head actually reads, so distances between embeddings are distances the
    /// classifier "sees" (pre-ReLU values would include directions it ignores).
    pub fn embed(&self, images: Tensor<4>) -> Tensor<2> {
        self.relu.forward(self.embed_linear(images))
    }

    /// `[B, C, S, S]` → the penultimate layer before its ReLU `[B, E]`: what a CosFace
    /// identity head trains on (the ReLU would confine it to the positive orthant).
    pub fn embed_linear(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = images;
        for block in &self.blocks {
            x = block.forward(x, self.kernel);
        }
        let x: Tensor<2> = x.flatten(1, 3);
        let z = self.embed.forward(x);
        match &self.embed_norm {
            Some(bn) => bn.forward(z),
            None => z,
        }
    }

    /// The embedding at `layer` alone (no face head).
    pub fn embed_at(&self, images: Tensor<4>, layer: Layer) -> Tensor<2> {
        match layer {
            Layer::Relu => self.embed(images),
            Layer::Linear => self.embed_linear(images),
        }
    }

    /// The embedding at `layer` and the face logit from one pass, for `infer`.
    pub fn forward_at(&self, images: Tensor<4>, layer: Layer) -> (Tensor<2>, Tensor<1>) {
        let linear = self.embed_linear(images);
        let logit = self.face_logit(linear.clone());
        (if layer == Layer::Linear { linear } else { self.relu.forward(linear) }, logit)
    }

    /// Face logits `[B]` from pre-ReLU embeddings `[B, E]` ([`FaceNet::embed_linear`]):
    /// training runs face and identity images through one pass and reads each part.
    pub fn face_logit(&self, linear: Tensor<2>) -> Tensor<1> {
        self.head.forward(self.relu.forward(linear)).flatten(0, 1)
    }

    /// `[B, C, S, S]` → face logit `[B]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<1> {
        self.forward_at(images, Layer::Relu).1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Backend, device};

    #[test]
    fn a_residual_unit_whose_last_norm_is_silenced_passes_its_input_through() {
        // With the second BatchNorm's scale and shift at zero only the skip path is left:
        // the unit is the identity, whatever its convolutions hold.
        let dev = device(Backend::Flex).unwrap();
        let mut r = Residual::new(4, &dev);
        r.norm2.gamma = r.norm2.gamma.map(|g| g.zeros_like());
        let x = Tensor::<4>::random([2, 4, 8, 8], burn::tensor::Distribution::Default, &dev);
        assert_eq!(r.forward(x.clone()).into_data(), x.clone().into_data());
        // Left as initialised (scale 1), it changes the input and keeps its shape.
        let y = Residual::new(4, &dev).forward(x.clone());
        assert_eq!(y.dims(), [2, 4, 8, 8]);
        // Any change at all shows the unit is not the identity: its random start is drawn
        // from burn's global generator, which tests running beside it reseed, and 0.1
        // failed once in a full run (issue 29's session).
        assert!((y - x).abs().max().into_scalar::<f32>() > 1e-4);
    }

    #[test]
    fn residual_units_add_two_convolutions_per_block_and_keep_the_embedding_width() {
        let dev = device(Backend::Flex).unwrap();
        let plain = ModelConfig::new().with_channels(vec![8, 16]).with_embedding_size(12).with_image_size(32);
        let deep = ModelConfig { residual: true, ..plain.clone() };
        let (a, b) = (plain.init(&dev), deep.init(&dev));
        // Per block of c channels: two 3×3×c×c kernels and two norms' scale, shift and
        // running mean and variance (burn counts the running statistics too).
        let extra: usize = [8, 16].iter().map(|c| 2 * 9 * c * c + 8 * c).sum();
        assert_eq!(b.num_params(), a.num_params() + extra);
        let x = Tensor::<4>::random([3, 1, 32, 32], burn::tensor::Distribution::Default, &dev);
        assert_eq!(b.embed_linear(x).dims(), [3, 12]);
    }
}
