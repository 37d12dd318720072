"""Writes the small fixtures of book-weights' tests with NumPy itself (run once; the files are
committed, so the tests need no Python). Made with Python 3.11 and NumPy 2.4:

    python3 make_fixtures.py

Every file holds the same two arrays (some in another dtype, byte order or layout):
W1, float32, shape (2, 3): [[0.5, -1.25, 3.0], [0.001, -0.0, 7.75]]
b1, float64, shape (3,):   [0.1, -2.5, 1e10]
"""
import pickle

import numpy as np

W1 = np.array([[0.5, -1.25, 3.0], [0.001, -0.0, 7.75]], dtype=np.float32)
b1 = np.array([0.1, -2.5, 1e10], dtype=np.float64)
params = {"W1": W1, "b1": b1}

for protocol in (2, 3, 4, 5):
    with open(f"small_p{protocol}.pkl", "wb") as f:
        pickle.dump(params, f, protocol=protocol)
np.savez("small.npz", **params)
np.savez_compressed("small_compressed.npz", **params)
np.save("W1.npy", W1)

big = {"W1": W1.astype(">f4"), "b1": b1.astype(">f8")}
np.savez("big_endian.npz", **big)
with open("big_endian_p3.pkl", "wb") as f:
    pickle.dump(big, f, protocol=3)

fortran = {"W1": np.asfortranarray(W1), "b1": b1}
np.savez("fortran.npz", **fortran)
with open("fortran_p3.pkl", "wb") as f:
    pickle.dump(fortran, f, protocol=3)

ints = {"W1": np.arange(6, dtype=np.int64).reshape(2, 3), "b1": b1}
np.savez("int.npz", **ints)
with open("int_p3.pkl", "wb") as f:
    pickle.dump(ints, f, protocol=3)
