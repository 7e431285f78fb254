//! The training objectives: BCE-with-logits on face / non-face (and its running
//! statistics), the supervised contrastive identity loss, and the optimiser step that
//! every training batch runs and `bench` times.
use burn::module::Param;
use burn::nn::loss::{BinaryCrossEntropyLoss, BinaryCrossEntropyLossConfig};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::log_softmax;

/// One optimiser step of the face / non-face objective: Adam on BCE-with-logits, plus an
/// optional extra loss (the identity term) from the same forward pass.
pub struct FaceStep {
    optim: ModuleOptimizer,
    bce: BinaryCrossEntropyLoss,
}

impl FaceStep {
    /// `device` is the autodiff device the model lives on.
    pub fn new(device: &Device) -> Self {
        FaceStep { optim: AdamConfig::new().init(), bce: BinaryCrossEntropyLossConfig::new().with_logits(true).init(device) }
    }

    /// The optimiser's state (Adam's moments per parameter), for `train --resume`.
    pub fn save_state(&self, path: &std::path::Path) -> crate::error::Result<()> {
        self.optim.save(path).map_err(|e| crate::error::Error::Checkpoint { path: path.to_path_buf(), reason: e.to_string() })
    }

    pub fn load_state(&mut self, path: &std::path::Path) -> crate::error::Result<()> {
        let optim = std::mem::replace(&mut self.optim, AdamConfig::new().init());
        self.optim = optim
            .load(path)
            .map_err(|e| crate::error::Error::Checkpoint { path: path.to_path_buf(), reason: format!("optimiser state: {e}") })?;
        Ok(())
    }

    /// `forward(&model)` gives the face logits of the batch (against `y`) and any extra
    /// loss; one Adam step with learning rate `lr` on their sum. Returns the updated model
    /// and the logits. `model` is any module holding the network: the network alone, or
    /// the network with a training-only head.
    pub fn run<M: Module>(
        &mut self,
        model: M,
        y: Tensor<1, Int>,
        lr: f64,
        forward: impl FnOnce(&M) -> (Tensor<1>, Option<Tensor<1>>),
    ) -> (M, Tensor<1>) {
        let (logits, extra) = forward(&model);
        let mut loss = self.bce.forward(logits.clone(), y);
        if let Some(l) = extra {
            loss = loss + l;
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        (self.optim.step(lr, model, grads), logits)
    }
}

/// CosFace's class weights: one row per training identity, compared with the embedding by
/// cosine. Training only: a checkpoint keeps the network, not this head.
#[derive(Module, Debug)]
pub struct CosFaceHead {
    weight: Param<Tensor<2>>,
}

impl CosFaceHead {
    /// Class weights drawn Xavier-normal (sd √(2 / (classes + dim))), as CosFace
    /// implementations do. Only a row's direction counts, and Adam moves every weight by
    /// about the learning rate per step, so a small start lets a class turn towards its
    /// faces ~50× faster than unit-variance rows: with those (runs 1–3 in docs/identity/),
    /// each of the 6 000 classes, seen a few times an epoch, barely moved and the identity
    /// loss stalled near its starting value.
    pub fn new(classes: usize, dim: usize, device: &Device) -> Self {
        let sd = (2.0 / (classes + dim) as f64).sqrt();
        CosFaceHead { weight: Param::from_tensor(Tensor::random([classes, dim], Distribution::Normal(0.0, sd), device)) }
    }

    /// CosFace (Wang et al. 2018) of embeddings `z` `[B, E]` with identity `labels`: the
    /// cross-entropy of s·(cos θ_j − m·[j = label]), cos θ_j between the L2-normalised
    /// row and class weight j.
    pub fn loss(&self, z: Tensor<2>, labels: &[usize], scale: f64, margin: f64) -> Tensor<1> {
        cosface_loss(z, self.weight.val(), labels, scale, margin)
    }
}

/// Rows of `x` scaled to unit length (a zero row stays zero).
fn unit_rows(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-6);
    x / norm
}

/// [`CosFaceHead::loss`] with the class weights `w` `[C, E]` given.
pub fn cosface_loss(z: Tensor<2>, w: Tensor<2>, labels: &[usize], scale: f64, margin: f64) -> Tensor<1> {
    let device = z.device();
    let (b, c) = (labels.len(), w.dims()[0]);
    let cos = unit_rows(z).matmul(unit_rows(w).transpose());
    let mut onehot = vec![0.0f32; b * c];
    for (i, &y) in labels.iter().enumerate() {
        onehot[i * c + y] = 1.0;
    }
    let onehot = Tensor::<2>::from_data(TensorData::new(onehot, [b, c]), &device);
    let logits = (cos - onehot.clone().mul_scalar(margin)).mul_scalar(scale);
    (log_softmax(logits, 1) * onehot).sum_dim(1).mean().neg()
}

/// Loss sum and correct count of `logits` against 0/1 `labels`.
pub fn bce_stats(logits: &[f32], labels: &[u8]) -> (f64, usize) {
    let mut loss = 0.0;
    let mut correct = 0;
    for (&z, &y) in logits.iter().zip(labels) {
        let z = z as f64;
        // Stable BCE with logits: max(z,0) − z·y + ln(1 + e^−|z|).
        loss += z.max(0.0) - z * y as f64 + (-z.abs()).exp().ln_1p();
        correct += usize::from((z > 0.0) == (y == 1));
    }
    (loss, correct)
}

/// Supervised contrastive loss (Khosla et al. 2020) of embeddings `z` `[B, E]` whose rows
/// carry person `labels`: for each row, the mean log-probability of picking a same-person
/// row among all other rows, by softmax over cosine similarity / `temperature`.
pub fn supcon_loss(z: Tensor<2>, labels: &[usize], temperature: f64) -> Tensor<1> {
    let device = z.device();
    let b = labels.len();
    let norm = z.clone().powi_scalar(2).sum_dim(1).sqrt().clamp_min(1e-6);
    let z = z / norm;
    let sim = z.clone().matmul(z.transpose()).div_scalar(temperature);
    // A row is never its own candidate.
    let eye = Tensor::<2>::eye(b, &device).equal_elem(1.0);
    let log_prob = log_softmax(sim.mask_fill(eye, -1e9), 1);
    let mut pos = vec![0.0f32; b * b];
    let mut n_pos = vec![0.0f32; b];
    for i in 0..b {
        for j in 0..b {
            if i != j && labels[i] == labels[j] {
                pos[i * b + j] = 1.0;
                n_pos[i] += 1.0;
            }
        }
    }
    let pos = Tensor::<2>::from_data(TensorData::new(pos, [b, b]), &device);
    let n_pos = Tensor::<2>::from_data(TensorData::new(n_pos.iter().map(|&v| v.max(1.0)).collect::<Vec<_>>(), [b, 1]), &device);
    let per_row: Tensor<2> = (log_prob * pos).sum_dim(1) / n_pos;
    per_row.mean().neg()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{Backend, device};

    #[test]
    fn supcon_loss_matches_the_hand_computed_value() {
        let dev = device(Backend::Flex).unwrap();
        // Two people, two identical unit vectors each, the people orthogonal; τ = 1.
        // Every row: positive similarity 1, two negatives at 0 → loss = ln(e + 2) − 1.
        let z = Tensor::<2>::from_data(TensorData::new(vec![2.0f32, 0.0, 3.0, 0.0, 0.0, 1.0, 0.0, 5.0], [4, 2]), &dev);
        let l: f32 = supcon_loss(z.clone(), &[0, 0, 1, 1], 1.0).into_scalar();
        let expected = (std::f32::consts::E + 2.0).ln() - 1.0;
        assert!((l - expected).abs() < 1e-4, "{l} vs {expected}");
        // Labels that pair the wrong rows must cost more.
        let wrong: f32 = supcon_loss(z, &[0, 1, 0, 1], 1.0).into_scalar();
        assert!(wrong > l + 0.5, "{wrong}");
    }

    #[test]
    fn cosface_loss_matches_the_hand_computed_value() {
        let dev = device(Backend::Flex).unwrap();
        // Two classes along the axes; row 0 on class 0 (cos 1, 0), row 1 at 45° (cos 0.707
        // to both) labelled 1. s = 2, m = 0.5:
        //   row 0: logits (2·(1 − 0.5), 0) = (1, 0) → −ln(e / (e + 1));
        //   row 1: logits (2·0.707, 2·(0.707 − 0.5)) → −ln(e^0.414 / (e^1.414 + e^0.414)).
        let z = Tensor::<2>::from_data(TensorData::new(vec![3.0f32, 0.0, 1.0, 1.0], [2, 2]), &dev);
        let w = Tensor::<2>::from_data(TensorData::new(vec![5.0f32, 0.0, 0.0, 0.5], [2, 2]), &dev);
        let l: f32 = cosface_loss(z.clone(), w.clone(), &[0, 1], 2.0, 0.5).into_scalar();
        let h = std::f64::consts::FRAC_1_SQRT_2;
        let row0 = (1f64.exp() + 1.0).ln() - 1.0;
        let row1 = ((2.0 * h).exp() + (2.0 * (h - 0.5)).exp()).ln() - 2.0 * (h - 0.5);
        let want = (row0 + row1) / 2.0;
        assert!((f64::from(l) - want).abs() < 1e-5, "{l} vs {want}");
        // The margin makes the right class cost more than plain normalised softmax.
        let plain: f32 = cosface_loss(z, w, &[0, 1], 2.0, 0.0).into_scalar();
        assert!(l > plain + 0.1, "{l} vs {plain}");
    }

    #[test]
    fn bce_stats_sum_the_stable_loss_and_count_correct_signs() {
        // z = 0: ln 2 whatever the label; z = 2, y = 1: ln(1 + e^−2); z = −3, y = 1: 3 + ln(1 + e^−3).
        let (loss, correct) = bce_stats(&[0.0, 2.0, -3.0, -1.0], &[1, 1, 1, 0]);
        let want = 2f64.ln() + (-2f64).exp().ln_1p() + 3.0 + (-3f64).exp().ln_1p() + (-1f64).exp().ln_1p();
        assert!((loss - want).abs() < 1e-9, "{loss} vs {want}");
        assert_eq!(correct, 2, "z = 2 (face) and z = −1 (non-face) are right; z = 0 counts as non-face");
    }
}
