//! nn-core (work in progress).
