//! Element-wise work on two cores: the optimizers' updates run through [`in_halves`].
//!
//! A large gradient comes from nn-core's split products (see [`nn_core::PARALLEL_MIN_MULADDS`]):
//! its two halves were computed by the two cores, and each is still in the cache of the core that
//! computed it. Updating the parameter in the same two halves, the second one on another thread
//! when one is free (`rayon::join`), keeps each half where it is. (`W1` of the book's network:
//! 39200 values; the SGD update went from 17 µs to 10 µs in `nn-cli train` while the other core
//! was free.) The work is element by element, so the split changes no result.

/// Slices of at least this many values are processed in two halves.
const SPLIT_MIN_LEN: usize = 1 << 14;

/// Slices, or tuples of slices of one length, that can be cut at the same index.
pub(crate) trait SplitAt: Sized + Send {
    /// The length of the (first) slice.
    fn len(&self) -> usize;
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
pub(crate) fn in_halves<P: SplitAt>(parts: P, f: impl Fn(P) + Sync) {
    let len = parts.len();
    if len >= SPLIT_MIN_LEN {
        let (first, second) = parts.split_at(len / 2);
        rayon::join(|| f(first), || f(second));
    } else {
        f(parts);
    }
}

#[cfg(test)]
mod tests {
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
