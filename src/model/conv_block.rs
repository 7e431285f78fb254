//! The network's conv block — 3×3 convolution (stride 1, padding 1) + bias → ReLU → 2×2
//! max-pool — as one fused CPU kernel for the flex backend, with its own backward pass.
//!
//! Why: profiling burn-flex 0.22.1 training showed most of the time in burn's generic conv
//! backward (a weight gradient computed as a forward conv whose *kernel* is the output
//! gradient, with an im2col of the whole batch) and in clearing pages for full-batch
//! intermediates. Here each image is handled by one thread with cache-sized scratch: im2col
//! of one image, one GEMM (the `gemm` crate, which flex itself uses), and bias, ReLU and pooling
//! in a single pass that also records which of the four inputs won. The backward pass
//! recomputes the image's im2col instead of keeping it (it is 9× the input) and does the two
//! gradient GEMMs per image; the weight gradient is summed per thread, then across threads
//! in a fixed order.
//!
//! Every other backend (ndarray, wgpu) runs the same block as burn's own conv2d, relu and
//! max_pool2d ([`composed`]). The tests check the fused kernel, forward and gradients,
//! against the same three operations from burn's tensor API ([`unfused`]), which is also
//! what `facemb bench --unfused` times.
// burn-ndarray is deprecated in burn 0.22 but stays selectable (backend.rs); it gets burn's ops.
#![allow(deprecated)]
use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ConvOptions;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, NdArray, backend_extension};
use burn::tensor::activation::relu;
use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{DType, Tensor, TensorData};
use rayon::prelude::*;

/// The block as one backend operation. Backends without their own kernel run the default
/// body, burn's differentiable primitives.
#[backend_extension(Flex, NdArray, Autodiff, Cube: cfg(feature = "gpu"))]
pub trait ConvBlockOps: Backend {
    /// `x` `[B, C, H, W]`, `weight` `[O, C, 3, 3]`, `bias` `[O]` → `[B, O, H/2, W/2]`.
    fn conv3x3_relu_pool(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        composed::<Self>(x, weight, bias)
    }
}

/// The block from burn's backend operations: what backends without a kernel of their own run.
pub fn composed<B: Backend>(x: FloatTensor<B>, weight: FloatTensor<B>, bias: FloatTensor<B>) -> FloatTensor<B> {
    let y = B::conv2d(x, weight, Some(bias), ConvOptions::new([1, 1], [1, 1], [1, 1], 1));
    B::max_pool2d(B::relu(y), [2, 2], [2, 2], [0, 0], [1, 1], false)
}

/// How a network runs its conv blocks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConvKernel {
    /// facemb's fused kernel on flex, burn's composition on other backends.
    #[default]
    Fused,
    /// burn's own conv2d, relu and max_pool2d on every backend: the "before" that
    /// `facemb bench --unfused` times beside the fused kernel.
    Burn,
}

/// The block on any device: the fused kernel on flex, burn's composition elsewhere.
pub fn forward(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as ConvBlockOps>::conv3x3_relu_pool(x.into_dispatch(), weight.into_dispatch(), bias.into_dispatch()))
}

/// The block from burn's tensor API, whatever the device: the "before" of the benchmark and
/// the reference of the tests.
pub fn unfused(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    let y = conv2d(x, weight, Some(bias), ConvOptions::new([1, 1], [1, 1], [1, 1], 1));
    max_pool2d(relu(y), MaxPoolOptions::new([2, 2]))
}

impl ConvBlockOps for NdArray {}
impl<C: CheckpointStrategy> ConvBlockOps for Autodiff<NdArray, C> {}
#[cfg(feature = "gpu")]
impl ConvBlockOps for burn::backend::Cube {}
#[cfg(feature = "gpu")]
impl<C: CheckpointStrategy> ConvBlockOps for Autodiff<burn::backend::Cube, C> {}

impl ConvBlockOps for Flex {
    fn conv3x3_relu_pool(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        match Geometry::of(&x, &weight, &bias) {
            Some(g) => {
                let (x, w, b) = (contiguous(x), contiguous(weight), contiguous(bias));
                let (out, _) = kernel_forward(f32s(&x), f32s(&w), f32s(&b), g);
                g.output(out)
            }
            None => composed::<Flex>(x, weight, bias),
        }
    }
}

/// What the backward pass needs: the inputs (shared, not copied) and the winners of the pools.
#[derive(Clone, Debug)]
struct Saved {
    x: FlexTensor,
    weight: FlexTensor,
    winners: Arc<Vec<u8>>,
    geometry: Geometry,
}

#[derive(Debug)]
struct ConvBlockBackward;

impl Backward<Flex, 3> for ConvBlockBackward {
    type State = Saved;

    fn backward(self, ops: Ops<Saved, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let s = ops.state;
        let g = s.geometry;
        let (dx, dw, db) = kernel_backward(f32s(&s.x), f32s(&s.weight), &s.winners, f32s(&grad), g, node_x.is_some());
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dx, [g.batch, g.cin, g.h, g.w])));
        }
        if let Some(node) = node_w {
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dw, [g.cout, g.cin, 3, 3])));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(db, [g.cout])));
        }
    }
}

impl<C: CheckpointStrategy> ConvBlockOps for Autodiff<Flex, C> {
    fn conv3x3_relu_pool(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        let Some(geometry) = Geometry::of(x.primitive(), weight.primitive(), bias.primitive()) else {
            return composed::<Self>(x, weight, bias);
        };
        let prep = ConvBlockBackward.prepare::<C>([x.node(), weight.node(), bias.node()]).compute_bound().stateful();
        let (xp, wp, bp) = (contiguous(x.into_primitive()), contiguous(weight.into_primitive()), contiguous(bias.into_primitive()));
        let (out, winners) = kernel_forward(f32s(&xp), f32s(&wp), f32s(&bp), geometry);
        let out = geometry.output(out);
        match prep {
            OpsKind::Tracked(prep) => prep.finish(Saved { x: xp, weight: wp, winners: Arc::new(winners), geometry }, out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}

fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.as_slice::<f32>().is_some() { t } else { t.to_contiguous() }
}

fn f32s(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("contiguous f32 tensor")
}

/// Sizes of one block call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Geometry {
    pub batch: usize,
    pub cin: usize,
    pub cout: usize,
    pub h: usize,
    pub w: usize,
}

impl Geometry {
    /// The sizes, or `None` when the fused kernel does not apply (not f32, or shapes that
    /// are not a 3×3 block) and burn's composition should run instead.
    fn of(x: &FlexTensor, weight: &FlexTensor, bias: &FlexTensor) -> Option<Self> {
        let (xs, ws, bs) = (x.layout().shape(), weight.layout().shape(), bias.layout().shape());
        let f32_all = [x.dtype(), weight.dtype(), bias.dtype()].iter().all(|&d| d == DType::F32);
        if !f32_all || xs.num_dims() != 4 || ws.num_dims() != 4 || bs.num_dims() != 1 {
            return None;
        }
        let g = Geometry { batch: xs[0], cin: xs[1], cout: ws[0], h: xs[2], w: xs[3] };
        (ws[1] == g.cin && ws[2] == 3 && ws[3] == 3 && bs[0] == g.cout && g.h >= 2 && g.w >= 2).then_some(g)
    }

    fn ho(&self) -> usize {
        self.h / 2
    }

    fn wo(&self) -> usize {
        self.w / 2
    }

    fn hw(&self) -> usize {
        self.h * self.w
    }

    /// Rows of the im2col matrix: one per input channel and kernel tap.
    fn k(&self) -> usize {
        self.cin * 9
    }

    fn output(&self, out: Vec<f32>) -> FlexTensor {
        FlexTensor::from_data(TensorData::new(out, [self.batch, self.cout, self.ho(), self.wo()]))
    }
}

/// Marks a pooled output whose four inputs were all ≤ 0 after the bias: ReLU passes no
/// gradient to any of them.
const DEAD: u8 = u8::MAX;

/// `col[(c·9 + kh·3 + kw)·HW + y·W + x] = img[c, y + kh − 1, x + kw − 1]`, zero outside.
fn im2col(img: &[f32], g: Geometry, col: &mut [f32]) {
    let (h, w) = (g.h, g.w);
    for c in 0..g.cin {
        let plane = &img[c * h * w..(c + 1) * h * w];
        for kh in 0..3 {
            for kw in 0..3 {
                let row = &mut col[(c * 9 + kh * 3 + kw) * h * w..][..h * w];
                for y in 0..h {
                    let dst = &mut row[y * w..(y + 1) * w];
                    let Some(sy) = (y + kh).checked_sub(1).filter(|&sy| sy < h) else {
                        dst.fill(0.0);
                        continue;
                    };
                    let src = &plane[sy * w..(sy + 1) * w];
                    match kw {
                        0 => {
                            dst[0] = 0.0;
                            dst[1..].copy_from_slice(&src[..w - 1]);
                        }
                        1 => dst.copy_from_slice(src),
                        _ => {
                            dst[..w - 1].copy_from_slice(&src[1..]);
                            dst[w - 1] = 0.0;
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds every column entry back onto the pixel it was read from.
fn col2im_add(col: &[f32], g: Geometry, img: &mut [f32]) {
    let (h, w) = (g.h, g.w);
    for c in 0..g.cin {
        let plane = &mut img[c * h * w..(c + 1) * h * w];
        for kh in 0..3 {
            for kw in 0..3 {
                let row = &col[(c * 9 + kh * 3 + kw) * h * w..][..h * w];
                for y in 0..h {
                    let Some(sy) = (y + kh).checked_sub(1).filter(|&sy| sy < h) else { continue };
                    let src = &row[y * w..(y + 1) * w];
                    let dst = &mut plane[sy * w..(sy + 1) * w];
                    let (d, s) = match kw {
                        0 => (&mut dst[..w - 1], &src[1..]),
                        1 => (&mut dst[..], src),
                        _ => (&mut dst[1..], &src[..w - 1]),
                    };
                    d.iter_mut().zip(s).for_each(|(d, s)| *d += s);
                }
            }
        }
    }
}

/// `dst[m×n] = lhs[m×k] · rhs[k×n]` (or `+=` with `accumulate`), each operand given by its
/// column and row strides, on the calling thread: the callers already run one image per
/// thread.
#[allow(clippy::too_many_arguments)]
fn sgemm(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    accumulate: bool,
    lhs: &[f32],
    (lhs_cs, lhs_rs): (usize, usize),
    rhs: &[f32],
    (rhs_cs, rhs_rs): (usize, usize),
) {
    assert!(dst.len() >= m * n);
    assert!(m == 0 || k == 0 || lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs);
    assert!(n == 0 || k == 0 || rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs);
    // SAFETY: the asserts keep every element gemm reads or writes inside the slices; dst is
    // row-major m×n and does not alias the inputs (it is a &mut).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Pooled outputs `[B, O, H/2, W/2]` and, for each, which of its four inputs won (or [`DEAD`]).
pub fn kernel_forward(x: &[f32], weight: &[f32], bias: &[f32], g: Geometry) -> (Vec<f32>, Vec<u8>) {
    let (ho, wo, hw, k) = (g.ho(), g.wo(), g.hw(), g.k());
    let (img_in, img_out) = (g.cin * hw, g.cout * ho * wo);
    let mut out = vec![0.0f32; g.batch * img_out];
    let mut winners = vec![DEAD; g.batch * img_out];
    out.par_chunks_mut(img_out.max(1)).zip(winners.par_chunks_mut(img_out.max(1))).enumerate().for_each_init(
        || (vec![0.0f32; k * hw], vec![0.0f32; g.cout * hw]),
        |(col, y), (b, (out, win))| {
            im2col(&x[b * img_in..(b + 1) * img_in], g, col);
            sgemm((g.cout, hw, k), y, false, weight, (1, k), col, (1, hw));
            for o in 0..g.cout {
                let plane = &y[o * hw..(o + 1) * hw];
                for py in 0..ho {
                    let (r0, r1) = (&plane[2 * py * g.w..], &plane[(2 * py + 1) * g.w..]);
                    for px in 0..wo {
                        let quad = [r0[2 * px], r0[2 * px + 1], r1[2 * px], r1[2 * px + 1]];
                        let (mut best, mut at) = (quad[0], 0u8);
                        for (i, &v) in quad.iter().enumerate().skip(1) {
                            if v > best {
                                (best, at) = (v, i as u8);
                            }
                        }
                        let v = best + bias[o];
                        let i = o * ho * wo + py * wo + px;
                        if v > 0.0 {
                            out[i] = v;
                            win[i] = at;
                        }
                    }
                }
            }
        },
    );
    (out, winners)
}

/// Gradients of the block: `(dx, dweight, dbias)` from the gradient of its pooled output;
/// `dx` only when `need_dx` (the first block's input is the image and needs none).
pub fn kernel_backward(
    x: &[f32],
    weight: &[f32],
    winners: &[u8],
    grad: &[f32],
    g: Geometry,
    need_dx: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let (ho, wo, hw, k) = (g.ho(), g.wo(), g.hw(), g.k());
    let (img_in, img_out) = (g.cin * hw, g.cout * ho * wo);
    let mut dx = if need_dx { vec![0.0f32; g.batch * img_in] } else { Vec::new() };
    // Contiguous runs of images, one per thread, so each thread sums its own weight gradient.
    let per = g.batch.div_ceil(rayon::current_num_threads().max(1)).max(1);
    let runs: Vec<std::ops::Range<usize>> = (0..g.batch).step_by(per).map(|s| s..(s + per).min(g.batch)).collect();
    let mut dx_runs: Vec<&mut [f32]> =
        if need_dx { dx.chunks_mut(per * img_in).collect() } else { runs.iter().map(|_| &mut [][..]).collect() };
    let partials: Vec<(Vec<f32>, Vec<f32>)> = runs
        .par_iter()
        .zip(dx_runs.par_iter_mut())
        .map(|(run, dx_run)| {
            let mut dw = vec![0.0f32; g.cout * k];
            let mut db = vec![0.0f32; g.cout];
            let mut col = vec![0.0f32; k * hw];
            let mut dy = vec![0.0f32; g.cout * hw];
            let mut dcol = if need_dx { vec![0.0f32; k * hw] } else { Vec::new() };
            for (j, b) in run.clone().enumerate() {
                dy.fill(0.0);
                let (gb, wb) = (&grad[b * img_out..(b + 1) * img_out], &winners[b * img_out..(b + 1) * img_out]);
                for o in 0..g.cout {
                    for py in 0..ho {
                        for px in 0..wo {
                            let i = o * ho * wo + py * wo + px;
                            if wb[i] != DEAD {
                                let (a, c) = ((wb[i] / 2) as usize, (wb[i] % 2) as usize);
                                dy[o * hw + (2 * py + a) * g.w + 2 * px + c] = gb[i];
                                db[o] += gb[i];
                            }
                        }
                    }
                }
                im2col(&x[b * img_in..(b + 1) * img_in], g, &mut col);
                // dW[O×K] += dy[O×HW] · colᵀ[HW×K]
                sgemm((g.cout, k, hw), &mut dw, true, &dy, (1, hw), &col, (hw, 1));
                if need_dx {
                    // dcol[K×HW] = Wᵀ[K×O] · dy[O×HW], then scattered back onto the image.
                    sgemm((k, hw, g.cout), &mut dcol, false, weight, (k, 1), &dy, (1, hw));
                    col2im_add(&dcol, g, &mut dx_run[j * img_in..(j + 1) * img_in]);
                }
            }
            (dw, db)
        })
        .collect();
    let mut dw = vec![0.0f32; g.cout * k];
    let mut db = vec![0.0f32; g.cout];
    for (pw, pb) in &partials {
        dw.iter_mut().zip(pw).for_each(|(a, b)| *a += b);
        db.iter_mut().zip(pb).for_each(|(a, b)| *a += b);
    }
    (need_dx.then_some(dx), dw, db)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        let (a, b) = (a.into_data().to_vec::<f32>().unwrap(), b.into_data().to_vec::<f32>().unwrap());
        assert_eq!(a.len(), b.len());
        let scale = a.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
        a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max) / scale
    }

    /// Shapes of the real network's blocks (small batch), plus odd sides, where the pool
    /// drops the last row and column, and a batch larger than the thread count.
    const SHAPES: [(usize, usize, usize, usize, usize); 4] = [(3, 1, 8, 16, 16), (2, 8, 16, 8, 8), (5, 3, 4, 7, 9), (9, 4, 6, 6, 6)];

    #[test]
    fn fused_forward_matches_burns_conv_relu_pool() {
        let dev = burn::tensor::Device::flex();
        for (b, c, o, h, w) in SHAPES {
            let x = Tensor::<4>::random([b, c, h, w], Distribution::Normal(0.0, 1.0), &dev);
            let wt = Tensor::<4>::random([o, c, 3, 3], Distribution::Normal(0.0, 0.5), &dev);
            let bias = Tensor::<1>::random([o], Distribution::Normal(0.0, 0.5), &dev);
            let got = forward(x.clone(), wt.clone(), bias.clone());
            assert_eq!(got.dims(), [b, o, h / 2, w / 2]);
            let d = diff(got, unfused(x, wt, bias));
            assert!(d < 1e-5, "{b}×{c}×{h}×{w} → {o}: relative difference {d}");
        }
    }

    #[test]
    fn fused_gradients_match_burns_autodiff() {
        let dev = burn::tensor::Device::flex().autodiff();
        for (b, c, o, h, w) in SHAPES {
            let x = Tensor::<4>::random([b, c, h, w], Distribution::Normal(0.0, 1.0), &dev).require_grad();
            let wt = Tensor::<4>::random([o, c, 3, 3], Distribution::Normal(0.0, 0.5), &dev).require_grad();
            let bias = Tensor::<1>::random([o], Distribution::Normal(0.0, 0.5), &dev).require_grad();
            // A loss that weights every output differently, so a gradient routed to the
            // wrong pool input or channel shows.
            let weights = Tensor::<4>::random([b, o, h / 2, w / 2], Distribution::Normal(0.0, 1.0), &dev);
            let g1 = (forward(x.clone(), wt.clone(), bias.clone()) * weights.clone()).sum().backward();
            let g2 = (unfused(x.clone(), wt.clone(), bias.clone()) * weights).sum().backward();
            let (dx1, dx2) = (x.grad(&g1).unwrap(), x.grad(&g2).unwrap());
            let (dw1, dw2) = (wt.grad(&g1).unwrap(), wt.grad(&g2).unwrap());
            let (db1, db2) = (bias.grad(&g1).unwrap(), bias.grad(&g2).unwrap());
            for (name, d) in [("x", diff(dx1, dx2)), ("weight", diff(dw1, dw2)), ("bias", diff(db1, db2))] {
                assert!(d < 1e-4, "{b}×{c}×{h}×{w} → {o}: gradient of {name} differs by {d} (relative)");
            }
        }
    }

    #[test]
    fn an_input_without_gradient_gets_none_and_the_weights_still_learn() {
        let dev = burn::tensor::Device::flex().autodiff();
        let x = Tensor::<4>::random([4, 1, 8, 8], Distribution::Normal(0.0, 1.0), &dev);
        let wt = Tensor::<4>::random([6, 1, 3, 3], Distribution::Normal(0.0, 0.5), &dev).require_grad();
        let bias = Tensor::<1>::zeros([6], &dev).require_grad();
        let grads = forward(x.clone(), wt.clone(), bias.clone()).sum().backward();
        assert!(x.grad(&grads).is_none());
        let dw = wt.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap();
        assert!(dw.iter().any(|&v| v != 0.0));
        let g2 = unfused(x, wt.clone(), bias).sum().backward();
        assert!(diff(wt.grad(&grads).unwrap(), wt.grad(&g2).unwrap()) < 1e-4);
    }

    #[test]
    fn im2col_and_col2im_are_adjoint() {
        // <im2col(a), c> = <a, col2im(c)> for any a, c: the backward scatter is the exact
        // transpose of the forward gather, padding edges included.
        let g = Geometry { batch: 1, cin: 2, cout: 1, h: 5, w: 4 };
        let a: Vec<f32> = (0..g.cin * g.hw()).map(|i| ((i * 37 % 11) as f32) - 5.0).collect();
        let c: Vec<f32> = (0..g.k() * g.hw()).map(|i| ((i * 53 % 13) as f32) - 6.0).collect();
        let mut col = vec![0.0; g.k() * g.hw()];
        im2col(&a, g, &mut col);
        let mut back = vec![0.0; a.len()];
        col2im_add(&c, g, &mut back);
        let lhs: f64 = col.iter().zip(&c).map(|(x, y)| f64::from(x * y)).sum();
        let rhs: f64 = a.iter().zip(&back).map(|(x, y)| f64::from(x * y)).sum();
        assert!((lhs - rhs).abs() < 1e-6, "{lhs} vs {rhs}");
    }
}
