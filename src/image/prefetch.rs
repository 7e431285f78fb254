//! Decoding many images: all at once on rayon's pool ([`decode_all`], for training sets)
//! or batch by batch ahead of the network on low-priority threads ([`decode_ahead`], for
//! embedding folders of any size).
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::decode::Scratch;
use super::{ImageSpec, SkipReason, Skipped};
use crate::error::Result;

/// Decoded images: the flat CHW data of those that decoded, the positions (into the
/// paths given) they came from, and the files that did not decode.
pub type Decoded = (Vec<f32>, Vec<usize>, Vec<Skipped>);

/// Decodes `paths` in parallel (rayon).
///
/// Each image is decoded straight into its slot of the batch buffer: one allocation per
/// batch instead of a vector per image and a copy (the buffer is compacted only when a
/// file fails, which is rare).
pub fn decode_all(paths: &[PathBuf], spec: ImageSpec) -> Decoded {
    let d = spec.len().max(1);
    let mut data = vec![0.0; paths.len() * d];
    let results = data
        .par_chunks_mut(d)
        .zip(paths.par_iter())
        .map_init(Scratch::default, |scratch, (out, p)| scratch.load_into(p, spec, out))
        .collect();
    compact(paths, d, data, results)
}

/// The images of `paths` whose decode (`results`, in order) succeeded, packed together:
/// drops the slots (`d` values each) of the files that failed and names those files.
pub fn compact(paths: &[PathBuf], d: usize, mut data: Vec<f32>, results: Vec<Outcome>) -> Decoded {
    let (mut kept, mut skipped) = (Vec::with_capacity(paths.len()), Vec::new());
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Ok(()) => {
                if kept.len() != i {
                    data.copy_within(i * d..(i + 1) * d, kept.len() * d);
                }
                kept.push(i);
            }
            Err(reason) => skipped.push(Skipped { path: paths[i].clone(), reason }),
        }
    }
    data.truncate(kept.len() * d);
    (data, kept, skipped)
}

/// Batches decoded ahead of the network at most (besides the one it is waiting for).
const AHEAD: usize = 3;

/// Calls `consume(b, batch b decoded)` for every batch of `paths`, in order, while one
/// decoding thread per core works up to [`AHEAD`] batches ahead at the lowest CPU
/// priority (nice 19).
///
/// Why not rayon's pool: decoding there ran in one burst at the start of each network
/// batch, beside the network's own parallel loops, so it only added its CPU time. The
/// network alone keeps 2 cores ~94 % busy (serial steps between its parallel ones); at
/// nice 19 the decoders run in those gaps and take CPU from the network only when they
/// fall behind (measured on LFW, 2 cores: 1.97 cores busy instead of 1.88, end-to-end
/// 0.94–0.98 of the network-only rate instead of 0.92).
///
/// Were the machine busy with other work, nice-19 decoders alone could starve and `infer`
/// would crawl, so images are claimed one at a time from a shared cursor and, when the
/// network reaches a batch that is not fully claimed, its own (normal-priority) threads
/// decode the rest; images that a starved decoder still holds after [`STRAGGLER_WAIT`]
/// are decoded again there. Nothing a decoder does holds a lock, which a preempted
/// nice-19 thread could keep for long. Beside two busy processes on 2 cores this gives
/// 0.87 of the network-only rate (0.64–0.70 with the network waiting on starved decoders).
pub fn decode_ahead(
    paths: &[PathBuf],
    spec: ImageSpec,
    batch_size: usize,
    mut consume: impl FnMut(usize, Decoded) -> Result<()>,
) -> Result<()> {
    let ahead = Ahead::new(paths, spec, batch_size);
    let workers = rayon::current_num_threads().clamp(1, ahead.batches.max(1));
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..workers {
            let (tx, ahead) = (tx.clone(), &ahead);
            scope.spawn(move || {
                lowest_priority();
                let mut scratch = Scratch::default();
                while let Some(i) = ahead.claim(None) {
                    // A closed channel means the consumer stopped on an error: stop too.
                    if tx.send(ahead.decode(i, &mut scratch)).is_err() {
                        break;
                    }
                }
            });
        }
        // Only the decoders hold senders: were they all gone, the batch is finished here.
        drop(tx);
        let mut filling = Filling::default();
        let result = (0..ahead.batches).try_for_each(|b| {
            if ahead.unclaimed_in(b) {
                // Behind: the network's own threads, at normal priority, finish the batch.
                for images in rayon::broadcast(|_| {
                    let mut scratch = Scratch::default();
                    std::iter::from_fn(|| ahead.claim(Some(b))).map(|i| ahead.decode(i, &mut scratch)).collect::<Vec<_>>()
                }) {
                    images.into_iter().for_each(|image| filling.place(&ahead, image));
                }
            }
            // A decoder can be preempted for long, outranked by other work, while it holds
            // an image of this batch: wait a little, then decode what is missing here (a
            // late copy is dropped).
            let deadline = Instant::now() + STRAGGLER_WAIT;
            while filling.done(b) < ahead.batch_len(b) {
                match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(image) => filling.place(&ahead, image),
                    Err(_) => {
                        let mut scratch = Scratch::default();
                        for i in filling.missing(&ahead, b) {
                            filling.place(&ahead, ahead.decode(i, &mut scratch));
                        }
                    }
                }
            }
            let (data, outcomes) = filling.take(b);
            ahead.taken.store(b + 1, Ordering::Release);
            let first = b * ahead.batch;
            consume(b, compact(&paths[first..first + ahead.batch_len(b)], spec.len(), data, outcomes))
        });
        // Releases decoders waiting at the window, so that the scope can join them.
        ahead.stop.store(true, std::sync::atomic::Ordering::Release);
        result
    })
}

/// An image's index, its CHW values and whether it decoded.
type DecodedImage = (usize, Vec<f32>, Outcome);

/// Whether one image decoded, and why not.
type Outcome = std::result::Result<(), SkipReason>;

/// A batch being filled: its values, each image's outcome once it is in, and how many are in.
type Partial = (Vec<f32>, Vec<Option<Outcome>>, usize);

/// How long the network waits for images that background decoders claimed before it
/// decodes them itself.
const STRAGGLER_WAIT: Duration = Duration::from_millis(2);

/// Batches being put together on the network's thread: each image's values and outcome.
#[derive(Default)]
struct Filling {
    batches: HashMap<usize, Partial>,
    /// Batches taken so far: images of these that arrive late are dropped.
    taken: usize,
}

impl Filling {
    fn place(&mut self, ahead: &Ahead, (i, image, outcome): DecodedImage) {
        let (b, k, d) = (i / ahead.batch, i % ahead.batch, ahead.spec.len());
        if b < self.taken {
            return;
        }
        let len = ahead.batch_len(b);
        let (data, outcomes, done) = self.batches.entry(b).or_insert_with(|| (vec![0.0; len * d], vec![None; len], 0));
        if outcomes[k].is_none() {
            data[k * d..(k + 1) * d].copy_from_slice(&image);
            outcomes[k] = Some(outcome);
            *done += 1;
        }
    }

    fn done(&self, b: usize) -> usize {
        self.batches.get(&b).map_or(0, |f| f.2)
    }

    /// Images of batch `b` not in yet.
    fn missing(&self, ahead: &Ahead, b: usize) -> Vec<usize> {
        let first = b * ahead.batch;
        let f = self.batches.get(&b);
        (0..ahead.batch_len(b)).filter(|&k| f.is_none_or(|f| f.1[k].is_none())).map(|k| first + k).collect()
    }

    /// Batch `b`, complete: its values and each image's outcome.
    fn take(&mut self, b: usize) -> (Vec<f32>, Vec<Outcome>) {
        self.taken = b + 1;
        let (data, outcomes, _) = self.batches.remove(&b).unwrap_or_default();
        (data, outcomes.into_iter().map(|o| o.unwrap_or_else(|| Err(SkipReason::Undecodable("not decoded".into())))).collect())
    }
}

/// The claim cursor and window that [`decode_ahead`]'s threads share, all atomics.
struct Ahead<'a> {
    paths: &'a [PathBuf],
    spec: ImageSpec,
    batch: usize,
    batches: usize,
    /// Next image to claim.
    next: AtomicUsize,
    /// Batches handed to the network so far.
    taken: AtomicUsize,
    stop: AtomicBool,
}

impl<'a> Ahead<'a> {
    fn new(paths: &'a [PathBuf], spec: ImageSpec, batch: usize) -> Self {
        let batch = batch.max(1);
        let batches = paths.len().div_ceil(batch);
        Ahead { paths, spec, batch, batches, next: AtomicUsize::new(0), taken: AtomicUsize::new(0), stop: AtomicBool::new(false) }
    }

    fn batch_len(&self, b: usize) -> usize {
        self.batch.min(self.paths.len() - b * self.batch)
    }

    /// Whether some image of batch `b` is still unclaimed.
    fn unclaimed_in(&self, b: usize) -> bool {
        self.next.load(Ordering::Acquire) < b * self.batch + self.batch_len(b)
    }

    /// The next image to decode, or None: all are claimed, decoding stopped, or
    /// (`only` = Some(b), the network's threads) the next one is past batch b. A
    /// background decoder (`only` = None) first waits until its image is within
    /// [`AHEAD`] batches of the network, polling: a lock here is what a preempted
    /// nice-19 thread must not hold.
    fn claim(&self, only: Option<usize>) -> Option<usize> {
        if let Some(b) = only {
            let end = b * self.batch + self.batch_len(b);
            return self.next.fetch_update(Ordering::AcqRel, Ordering::Acquire, |i| (i < end).then_some(i + 1)).ok();
        }
        let i = self.next.fetch_add(1, Ordering::AcqRel);
        if i >= self.paths.len() {
            return None;
        }
        while i / self.batch > self.taken.load(Ordering::Acquire) + AHEAD {
            if self.stop.load(Ordering::Acquire) {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_micros(500));
        }
        Some(i)
    }

    fn decode(&self, i: usize, scratch: &mut Scratch) -> DecodedImage {
        let mut image = vec![0.0; self.spec.len()];
        let outcome = scratch.load_into(&self.paths[i], self.spec, &mut image);
        (i, image, outcome)
    }
}

/// Drops the calling thread to nice 19 (Linux: the nice value is per thread); elsewhere
/// a no-op, and decoding simply shares the CPU with the network.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its integer arguments; who = 0 is this thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS as _, 0, 19);
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::error::Error;

    const SPEC: ImageSpec = ImageSpec { size: 32, channels: 1 };

    /// JPEGs and PNGs of the repository's data with unreadable files between them.
    fn mixed_paths(tmp: &Path) -> Vec<PathBuf> {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut paths: Vec<PathBuf> = (1..=10).map(|i| repo.join(format!("datasets/att_faces/s02/{i:02}.png"))).collect();
        let lfw = repo.join("datasets/lfw_train_identities");
        let mut people: Vec<PathBuf> = std::fs::read_dir(&lfw).unwrap().map(|e| e.unwrap().path()).filter(|p| p.is_dir()).collect();
        people.sort();
        for person in people.iter().take(4) {
            paths.extend(std::fs::read_dir(person).unwrap().map(|e| e.unwrap().path()));
        }
        for (at, name, bytes) in
            [(0, "empty.png", &b""[..]), (7, "fake.jpg", &b"\xFF\xD8\xFFnot really"[..]), (15, "text.png", &b"hello"[..])]
        {
            let p = tmp.join(name);
            std::fs::write(&p, bytes).unwrap();
            paths.insert(at, p);
        }
        paths
    }

    #[test]
    fn batches_come_in_order_with_the_pixels_of_a_plain_parallel_decode() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = mixed_paths(tmp.path());
        let (want, want_kept, want_bad) = decode_all(&paths, SPEC);
        assert_eq!(want_bad.len(), 3);
        // Batches of one image, uneven batches, and one batch for all.
        for batch in [1, 4, 7, paths.len() + 5] {
            let (mut data, mut kept, mut bad, mut order) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            decode_ahead(&paths, SPEC, batch, |b, (d, k, s)| {
                order.push(b);
                data.extend(d);
                kept.extend(k.iter().map(|k| b * batch + k));
                bad.extend(s);
                Ok(())
            })
            .unwrap();
            assert_eq!(order, (0..paths.len().div_ceil(batch)).collect::<Vec<_>>(), "batch {batch}");
            assert_eq!(kept, want_kept, "batch {batch}");
            assert_eq!(bad, want_bad, "batch {batch}");
            assert!(data == want, "batch {batch}: pixels differ from decode_all");
        }
    }

    #[test]
    fn an_error_downstream_stops_decoding_and_is_returned() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = mixed_paths(tmp.path());
        let mut calls = 0;
        let r = decode_ahead(&paths, SPEC, 2, |b, _| {
            calls += 1;
            if b == 1 { Err(Error::Invalid("network failed".into())) } else { Ok(()) }
        });
        assert!(r.unwrap_err().to_string().contains("network failed"));
        assert_eq!(calls, 2, "no batch after the failing one");
    }

    #[test]
    fn a_late_or_second_copy_of_an_image_is_dropped() {
        let paths: Vec<PathBuf> = (0..5).map(|i| PathBuf::from(format!("{i}.png"))).collect();
        let ahead = Ahead::new(&paths, ImageSpec { size: 1, channels: 1 }, 2);
        let mut f = Filling::default();
        let img = |i: usize, v: f32| (i, vec![v], Ok(()));
        f.place(&ahead, img(1, 1.0));
        assert_eq!((f.done(0), f.missing(&ahead, 0)), (1, vec![0]));
        // The network decoded image 1 itself as well; the decoder's copy arrives after.
        f.place(&ahead, img(1, 9.0));
        f.place(&ahead, img(0, 0.5));
        assert_eq!(f.done(0), 2);
        let (data, outcomes) = f.take(0);
        assert_eq!((data, outcomes.len()), (vec![0.5, 1.0], 2));
        // Batch 0 is gone to the network: a straggler for it changes nothing.
        f.place(&ahead, img(0, 7.0));
        assert_eq!(f.done(0), 0);
        // The last batch holds one image.
        f.place(&ahead, img(4, 4.0));
        assert_eq!((f.done(2), f.missing(&ahead, 2)), (1, vec![]));
    }
}
