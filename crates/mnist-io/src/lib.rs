//! mnist-io (work in progress).
