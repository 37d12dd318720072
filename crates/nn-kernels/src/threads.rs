//! Two cores, the same bits: how the kernels share work between threads.
//!
//! Work is cut in two halves by its shapes only, never by the number of threads: a large product
//! by the inner dimension or by columns ([`gemm`](crate::gemm::gemm)), a batch by halves of
//! samples ([`split_samples`]). With one thread [`join`] runs the two halves in turn, with two
//! at once; each value comes from the very same operations either way, so results are
//! bit-identical whatever the thread count. Inside [`serial`] every cut runs on the calling
//! thread (same bits again), for callers that already run independent work on several threads.
//!
//! # Keeping the pool warm
//!
//! Between two products of a training step (during its element-wise work), rayon's second
//! thread falls asleep, and waking it up costs about as much as it saves. With
//! [`keep_warm(true)`](keep_warm), a "keeper" job stays in the pool after each split: it runs
//! whatever work appears and spins in between, and leaves after 200 µs without work. In
//! `nn-cli train` (10000 steps, 2 threads) steps took 294 µs without the keeper and 210–240 µs
//! with it (264 µs on one thread); the whole run went from 4.0 s to 3.0–3.3 s. The keeper only
//! runs jobs, so it changes no result.
//!
//! It is off by default: a library should not spin a core its caller did not ask for. The
//! `nn-cli` binary switches it on.
//!
//! A keeper never spins on the thread that spawned it: rayon puts the job on that thread's own
//! deque, and a thread waiting for a stolen job would pop it and spin its 200 µs instead of
//! getting on with its own work. Popped there, it leaves at once. (Measured with nn-train's
//! evaluations running beside the loop: `nn-cli train` takes 2.24 s with the keeper, 2.47 s
//! without, medians of 5 side by side.)

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Work of at least this many multiply-adds (`m·n·k` for a product, or as much work counted
/// otherwise) is cut in two halves, run with [`join`].
///
/// A training step's two large products (`W1ᵀ·x` and `x·dzᵀ`, 3.9 million multiply-adds each at
/// batch 100) are cut; its three small ones (50·10·100) are not: handing work to another thread
/// (about 10 µs) costs more than they do. Measured on two cores, the forward product runs 2.0×
/// faster cut than on one thread, `dW1` 2.0×, a 2048³ product 1.95×.
pub const PARALLEL_MIN_MULADDS: usize = 1 << 21;

thread_local! {
    /// Set by [`serial`]: this thread runs both halves of its cut work itself.
    static SERIAL: Cell<bool> = const { Cell::new(false) };
}

/// Whether [`keep_warm`] is on.
static WARM: AtomicBool = AtomicBool::new(false);

/// Switches the keeper on or off for the whole process (off by default; see the
/// [module](self)). It changes speed only, never a result.
pub fn keep_warm(on: bool) {
    WARM.store(on, Ordering::Relaxed);
}

/// Runs `f` with every cut of the kernels made on the calling thread: a large product's or a
/// batch's two halves run in turn instead of with `rayon::join`, giving the same bits. For
/// callers that already run independent work on several threads (nn-train's evaluations score
/// chunks of a dataset in parallel), so that the two levels of parallelism do not stack.
///
/// ```
/// use nn_kernels::{Op, gemm::gemm};
/// use nalgebra::DMatrix;
/// let a = DMatrix::<f32>::from_fn(64, 1024, |i, j| ((i + j) % 7) as f32);
/// let b = DMatrix::<f32>::from_fn(1024, 64, |i, j| ((i * j) % 5) as f32);
/// let (mut split, mut serial) = (DMatrix::zeros(64, 64), DMatrix::zeros(64, 64));
/// gemm(1.0, &a, Op::N, &b, Op::N, 0.0, &mut split);
/// nn_kernels::serial(|| gemm(1.0, &a, Op::N, &b, Op::N, 0.0, &mut serial));
/// assert_eq!(split, serial);
/// ```
pub fn serial<R>(f: impl FnOnce() -> R) -> R {
    /// Restores the previous setting, even if `f` panics.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            SERIAL.set(self.0);
        }
    }
    let _restore = Restore(SERIAL.replace(true));
    f()
}

/// Whether the calling thread is inside [`serial`].
pub(crate) fn in_serial() -> bool {
    SERIAL.get()
}

/// Runs `a` and `b`, on two threads with [`rayon::join`] (then keeps the pool warm, if
/// [`keep_warm`] is on), or in turn on the calling thread inside [`serial`]. For work that callers
/// cut in two by its shapes only, so that the result does not depend on which way it runs.
pub fn join<A: Send, B: Send>(
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    if in_serial() {
        (a(), b())
    } else {
        let both = rayon::join(a, b);
        keep_pool_warm();
        both
    }
}

/// How to run a batch: at once, or as two halves of samples (`0..h` and `h..n`), each half
/// summing its own parameter gradients, the second's added to the first's at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Halves {
    /// All the samples in one go.
    One,
    /// The first `h` samples, then the others.
    Two(usize),
}

/// The cut of a batch of `n` samples whose work is `muladds` multiply-adds (or as much work
/// counted otherwise): two halves from [`PARALLEL_MIN_MULADDS`] on, as products are cut.
///
/// ```
/// use nn_kernels::threads::{Halves, split_samples};
/// assert_eq!(split_samples(100, 1 << 30), Halves::Two(50));
/// assert_eq!(split_samples(100, 1000), Halves::One);
/// assert_eq!(split_samples(1, 1 << 30), Halves::One);
/// ```
pub fn split_samples(n: usize, muladds: usize) -> Halves {
    if n >= 2 && muladds >= PARALLEL_MIN_MULADDS {
        Halves::Two(n / 2)
    } else {
        Halves::One
    }
}

/// Whether a keeper job is running.
static KEEPER: AtomicBool = AtomicBool::new(false);

/// With [`keep_warm`] on, leaves a job in the pool that runs whatever work appears and spins in
/// between, until it has found nothing for 200 µs: the next split's second half then starts at
/// once instead of waiting for a sleeping thread to wake up.
pub(crate) fn keep_pool_warm() {
    if !WARM.load(Ordering::Relaxed)
        || rayon::current_num_threads() < 2
        || KEEPER.swap(true, Ordering::AcqRel)
    {
        return;
    }
    let spawner = rayon::current_thread_index();
    rayon::spawn(move || {
        // Popped by the thread that spawned it (waiting in an outer `join`, say), the keeper would
        // spin that thread for 200 µs instead of letting it wait for its own work: leave at once.
        if spawner.is_some() && rayon::current_thread_index() == spawner {
            KEEPER.store(false, Ordering::Release);
            return;
        }
        let mut idle_since = Instant::now();
        loop {
            if rayon::yield_now() == Some(rayon::Yield::Executed) {
                idle_since = Instant::now();
            } else if idle_since.elapsed() > Duration::from_micros(200) {
                break;
            } else {
                std::hint::spin_loop();
            }
        }
        KEEPER.store(false, Ordering::Release);
    });
}

// Element-wise work on two cores: an optimizer's update of a large parameter. Its gradient came
// from a split product, whose two halves were computed by the two cores and are still in their
// caches; updating the parameter in the same two halves keeps each half where it is (`W1` of the
// book's network, 39200 values: the SGD update went from 17 µs to 10 µs in `nn-cli train` while
// the other core was free). The work is value by value, so the cut changes no result.

/// Slices of at least this many values are processed in two halves by [`in_halves`].
pub const SPLIT_MIN_LEN: usize = 1 << 14;

/// Slices, or tuples of slices of one length, that can be cut at the same index.
pub trait SplitAt: Sized + Send {
    /// The length of the (first) slice.
    fn len(&self) -> usize;
    /// Whether the slices are empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The first `mid` values and the rest, of every slice.
    fn split_at(self, mid: usize) -> (Self, Self);
}

impl<T: Send> SplitAt for &mut [T] {
    fn len(&self) -> usize {
        <[T]>::len(self)
    }
    fn split_at(self, mid: usize) -> (Self, Self) {
        self.split_at_mut(mid)
    }
}

impl<T: Sync> SplitAt for &[T] {
    fn len(&self) -> usize {
        <[T]>::len(self)
    }
    fn split_at(self, mid: usize) -> (Self, Self) {
        <[T]>::split_at(self, mid)
    }
}

macro_rules! split_tuple {
    ($($name:ident),+) => {
        impl<$($name: SplitAt),+> SplitAt for ($($name,)+) {
            fn len(&self) -> usize {
                #[allow(non_snake_case)]
                let ($($name,)+) = self;
                let lens = [$($name.len()),+];
                assert!(lens.iter().all(|&n| n == lens[0]), "slices of different lengths");
                lens[0]
            }
            fn split_at(self, mid: usize) -> (Self, Self) {
                #[allow(non_snake_case)]
                let ($($name,)+) = self;
                #[allow(non_snake_case)]
                let ($($name,)+) = ($($name.split_at(mid),)+);
                (($($name.0,)+), ($($name.1,)+))
            }
        }
    };
}

split_tuple!(A, B);
split_tuple!(A, B, C);
split_tuple!(A, B, C, D);

/// Runs `f` on `parts`, or on its two halves (the second on another thread if one is free) when
/// they hold at least [`SPLIT_MIN_LEN`] values. `f` must work value by value, so that the
/// result does not depend on the cut.
pub fn in_halves<P: SplitAt>(parts: P, f: impl Fn(P) + Sync) {
    let len = parts.len();
    if len >= SPLIT_MIN_LEN {
        let (first, second) = parts.split_at(len / 2);
        rayon::join(|| f(first), || f(second));
    } else {
        f(parts);
    }
}

#[cfg(test)]
mod halves_tests {
    use super::*;

    #[test]
    fn both_halves_are_processed_once() {
        for len in [10, SPLIT_MIN_LEN + 3] {
            let mut values = vec![1.0_f32; len];
            let grads: Vec<f32> = (0..len).map(|i| i as f32).collect();
            in_halves((values.as_mut_slice(), grads.as_slice()), |(v, g)| {
                for (v, g) in v.iter_mut().zip(g) {
                    *v += g;
                }
            });
            assert!(values.iter().enumerate().all(|(i, &v)| v == 1.0 + i as f32));
        }
    }

    #[test]
    #[should_panic(expected = "different lengths")]
    fn slices_of_different_lengths_are_a_bug() {
        let (mut a, b) = (vec![0.0_f32; 4], vec![0.0_f32; 3]);
        in_halves((a.as_mut_slice(), b.as_slice()), |_| {});
    }
}
