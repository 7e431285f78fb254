//! Network throughput on random inputs (no data loading): training img/s (forward,
//! backward, Adam step) and inference img/s, after warm-up. Used by `scripts/bench_net.sh`
//! to compare backends; timings belong here, never in tests.
use std::time::Instant;

use burn::nn::loss::BinaryCrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::prelude::*;
use burn::tensor::Distribution;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::ModelConfig;

#[derive(Debug, Clone, Serialize)]
pub struct NetThroughput {
    pub channels: Vec<usize>,
    pub embedding_size: usize,
    pub train_batch: usize,
    pub infer_batch: usize,
    pub train_images_per_sec: f64,
    pub infer_images_per_sec: f64,
}

fn sync(device: &Device) -> Result<()> {
    device.sync().map_err(|e| Error::Compute { what: "device sync", reason: format!("{e:?}") })
}

/// Times `steps` training steps and `steps` inference batches after `warmup` of each.
pub fn net_throughput(model: &ModelConfig, device: &Device, train_batch: usize, infer_batch: usize, warmup: usize, steps: usize) -> Result<NetThroughput> {
    let s = model.image_size;
    let ad = device.clone().autodiff();
    let mut net = model.init(&ad)?;
    let mut optim = AdamConfig::new().init();
    let loss_fn = BinaryCrossEntropyLossConfig::new().with_logits(true).init(&ad);
    let x = Tensor::<4>::random([train_batch, model.in_channels, s, s], Distribution::Default, &ad);
    let labels: Vec<i64> = (0..train_batch as i64).map(|i| i % 2).collect();
    let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [train_batch]), &ad);
    let mut train_secs = 0.0;
    for step in 0..warmup + steps {
        let t = Instant::now();
        let loss = loss_fn.forward(net.forward(x.clone()), y.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(1e-3, net, grads);
        sync(&ad)?;
        if step >= warmup {
            train_secs += t.elapsed().as_secs_f64();
        }
    }
    let net = net.valid();
    let x = Tensor::<4>::random([infer_batch, model.in_channels, s, s], Distribution::Default, device);
    let mut infer_secs = 0.0;
    for step in 0..warmup + steps {
        let t = Instant::now();
        // Reading the embedding back is part of inference: it is what `infer` does.
        let _ = net.embed(x.clone()).into_data();
        if step >= warmup {
            infer_secs += t.elapsed().as_secs_f64();
        }
    }
    Ok(NetThroughput {
        channels: model.channels.clone(),
        embedding_size: model.embedding_size,
        train_batch,
        infer_batch,
        train_images_per_sec: (steps * train_batch) as f64 / train_secs,
        infer_images_per_sec: (steps * infer_batch) as f64 / infer_secs,
    })
}
