//! The face / non-face CNN. Its penultimate layer (after the ReLU) is the embedding that
//! `infer` exports; the last layer is a single logit, sigmoid(logit) = P(face).
pub mod checkpoint;
pub mod conv_block;

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::prelude::*;

use crate::error::{Error, Result};

/// Everything needed to rebuild the architecture: a checkpoint stores this, and `infer`
/// builds the network from it before loading the weights.
#[derive(Config, Debug, PartialEq)]
pub struct ModelConfig {
    /// Output channels of each conv block (3×3 conv, ReLU, 2×2 max-pool).
    #[config(default = "vec![32, 64, 128]")]
    pub channels: Vec<usize>,
    /// Width of the penultimate fully connected layer: the embedding.
    #[config(default = 128)]
    pub embedding_size: usize,
    /// Images are resized to `image_size`×`image_size`.
    #[config(default = 64)]
    pub image_size: usize,
    /// 1 = grey (luminance), 3 = RGB.
    #[config(default = 1)]
    pub in_channels: usize,
}

impl ModelConfig {
    /// Rejects configs that cannot build a network, before any weight is allocated.
    pub fn validate(&self) -> Result<()> {
        let bad = |r: String| Err(Error::Invalid(format!("model config: {r}")));
        if self.channels.is_empty() || self.channels.contains(&0) {
            return bad(format!("channels must be non-empty and > 0, got {:?}", self.channels));
        }
        if self.embedding_size == 0 {
            return bad("embedding_size must be > 0".into());
        }
        if !matches!(self.in_channels, 1 | 3) {
            return bad(format!("in_channels must be 1 (grey) or 3 (RGB), got {}", self.in_channels));
        }
        if self.feature_side() == 0 {
            return bad(format!("image_size {} is too small for {} pooling blocks", self.image_size, self.channels.len()));
        }
        Ok(())
    }

    /// Side of the feature map after the conv blocks (each halves it).
    fn feature_side(&self) -> usize {
        self.image_size >> self.channels.len()
    }

    pub fn init(&self, device: &Device) -> Result<FaceNet> {
        self.validate()?;
        let mut blocks = Vec::with_capacity(self.channels.len());
        let mut in_ch = self.in_channels;
        for &out_ch in &self.channels {
            blocks.push(ConvBlock {
                conv: Conv2dConfig::new([in_ch, out_ch], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(device),
                pool: MaxPool2dConfig::new([2, 2]).init(),
                relu: Relu::new(),
            });
            in_ch = out_ch;
        }
        let side = self.feature_side();
        let flat = in_ch * side * side;
        Ok(FaceNet {
            blocks,
            embed: LinearConfig::new(flat, self.embedding_size).init(device),
            head: LinearConfig::new(self.embedding_size, 1).init(device),
            relu: Relu::new(),
        })
    }
}

#[derive(Module, Debug)]
pub struct ConvBlock {
    conv: Conv2d,
    pool: MaxPool2d,
    relu: Relu,
}

impl ConvBlock {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match &self.conv.bias {
            // One fused kernel on flex (conv_block.rs), burn's own ops on other backends.
            Some(bias) => crate::conv_block::forward(x, self.conv.weight.val(), bias.val()),
            // Not built by ModelConfig::init; kept so any Conv2d still runs.
            None => self.pool.forward(self.relu.forward(self.conv.forward(x))),
        }
    }
}

#[derive(Module, Debug)]
pub struct FaceNet {
    blocks: Vec<ConvBlock>,
    embed: Linear,
    head: Linear,
    relu: Relu,
}

impl FaceNet {
    /// `[B, C, S, S]` → embedding `[B, E]`, taken after the ReLU: that is the representation
    /// the head actually reads, so distances between embeddings are distances the
    /// classifier "sees" (pre-ReLU values would include directions it ignores).
    pub fn embed(&self, images: Tensor<4>) -> Tensor<2> {
        let mut x = images;
        for block in &self.blocks {
            x = block.forward(x);
        }
        let x: Tensor<2> = x.flatten(1, 3);
        self.relu.forward(self.embed.forward(x))
    }

    /// `[B, C, S, S]` → face logit `[B]`.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<1> {
        self.forward_with_embedding(images).1
    }

    /// Both outputs from one pass, for `infer` (embedding and P(face) per image).
    pub fn forward_with_embedding(&self, images: Tensor<4>) -> (Tensor<2>, Tensor<1>) {
        let e = self.embed(images);
        let logit: Tensor<1> = self.head.forward(e.clone()).flatten(0, 1);
        (e, logit)
    }
}
