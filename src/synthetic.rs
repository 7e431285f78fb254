//! Data for the tests and the benchmarks: Gaussian blobs shaped like sklearn's
//! `make_blobs` (what `../shared/peers/speed.py` times), so every test and benchmark
//! draws its clusters the same way, and the path of the repository's own small data sets.
use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One standard normal value by Box–Muller (rand 0.9 has no normal distribution without
/// rand_distr).
pub fn gaussian(rng: &mut impl Rng) -> f32 {
    let (u, v): (f32, f32) = (rng.random_range(f32::EPSILON..1.0), rng.random());
    (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
}

/// `n` points in `dims` dimensions around `centres` centres drawn uniformly in
/// [−10, 10]^dims, with standard deviation `spread`; point i belongs to centre
/// i mod `centres` (returned as its label).
pub fn blobs(n: usize, dims: usize, centres: usize, spread: f32, seed: u64) -> (Array2<f32>, Vec<usize>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let c: Vec<f32> = (0..centres * dims).map(|_| rng.random_range(-10.0..10.0)).collect();
    let labels: Vec<usize> = (0..n).map(|i| i % centres.max(1)).collect();
    let x = Array2::from_shape_fn((n, dims), |(i, j)| c[labels[i] * dims + j] + spread * gaussian(&mut rng));
    (x, labels)
}

/// A path inside the repository (its `datasets/` are the tests' real data).
#[cfg(test)]
pub fn repo(p: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_are_seeded_labelled_in_turn_and_spread_as_asked() {
        let (x, labels) = blobs(3000, 4, 3, 2.0, 1);
        assert_eq!(x.dim(), (3000, 4));
        assert_eq!(&labels[..4], &[0, 1, 2, 0]);
        assert_eq!(blobs(3000, 4, 3, 2.0, 1).0, x);
        assert_ne!(blobs(3000, 4, 3, 2.0, 2).0, x);
        // Spread around the centre mean of each blob: sd ≈ 2 per coordinate.
        let rows: Vec<usize> = (0..3000).filter(|i| i % 3 == 0).collect();
        let col: Vec<f32> = rows.iter().map(|&i| x[[i, 0]]).collect();
        let mean = col.iter().sum::<f32>() / col.len() as f32;
        let sd = (col.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / col.len() as f32).sqrt();
        assert!((sd - 2.0).abs() < 0.15, "sd {sd}");
    }
}
