//! nn-train (work in progress).
