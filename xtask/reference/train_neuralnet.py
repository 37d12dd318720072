#!/usr/bin/env python3
"""The NumPy reference of `cargo xtask bench`.

A faithful reimplementation of the book's chapter-4 training script (Deep Learning from Scratch,
ch04/train_neuralnet.py with ch04/two_layer_net.py, common/functions.py and dataset/mnist.py):
the same TwoLayerNet (784-50-10, sigmoid, softmax, cross-entropy error, the closed-form
`gradient`), the same hyperparameters (weight_init_std 0.01, 10000 iterations, batch 100,
learning rate 0.1, batches drawn with np.random.choice), the same accuracy passes over the whole
train and test sets every iter_per_epoch iterations, and the book's dtypes (images float32 divided
by 255.0, one-hot labels and weights float64).

Differences from the book, none of which touches the timed work: it reads the IDX files itself
(gzip or raw) instead of a pickle, draws no plot, and ends with a parseable summary line:

    final: train_acc=0.9453 test_acc=0.9461 wall_s=14.21 peak_rss_mib=702.4

wall_s is this process's own time from start to finish; peak_rss_mib its peak resident memory.
Only numpy and Python's standard library are used.
"""

import time

START = time.perf_counter()

import argparse
import gzip
import os
import resource
import sys

import numpy as np

# IDX magic numbers: unsigned bytes, with 1 (labels) or 3 (images) dimensions.
LABELS_MAGIC = 0x00000801
IMAGES_MAGIC = 0x00000803


class DataError(Exception):
    """A data file that is missing or not what MNIST should be."""


def read_idx(folder, name, magic):
    """Reads one IDX file, `name` or `name.gz`, and returns its contents as a uint8 array."""
    for path in (os.path.join(folder, name), os.path.join(folder, name + ".gz")):
        if os.path.exists(path):
            break
    else:
        raise DataError(
            f"{os.path.join(folder, name)}[.gz] not found: run `cargo xtask fetch-mnist` "
            "or pass --data with the folder holding the MNIST files"
        )
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e}); fetch it again") from e
    dims = (magic & 0xFF)
    header = 4 + 4 * dims
    if len(raw) < header or int.from_bytes(raw[:4], "big") != magic:
        raise DataError(f"{path}: not an IDX file with magic {magic:#010x}; fetch it again")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    if len(raw) - header != int(np.prod(shape)):
        raise DataError(
            f"{path}: header promises {shape} bytes of data but the file holds "
            f"{len(raw) - header}; fetch it again"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def one_hot(labels):
    """The book's one-hot labels: float64 rows with a single 1.0 at the label's index."""
    t = np.zeros((labels.size, 10))
    t[np.arange(labels.size), labels] = 1
    return t


def load_mnist(folder):
    """load_mnist(normalize=True, one_hot_label=True) of the book, from the IDX files."""
    splits = []
    for prefix in ("train", "t10k"):
        images = read_idx(folder, f"{prefix}-images-idx3-ubyte", IMAGES_MAGIC)
        labels = read_idx(folder, f"{prefix}-labels-idx1-ubyte", LABELS_MAGIC)
        if images.shape[0] != labels.shape[0]:
            raise DataError(
                f"{folder}: {prefix} has {images.shape[0]} images but {labels.shape[0]} labels"
            )
        x = images.reshape(images.shape[0], -1).astype(np.float32)
        x /= 255.0
        splits.append((x, one_hot(labels)))
    return splits


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def sigmoid_grad(x):
    return (1.0 - sigmoid(x)) * sigmoid(x)


def softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


def cross_entropy_error(y, t):
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


class TwoLayerNet:
    """The book's chapter-4 network, with the closed-form gradient."""

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01):
        self.params = {
            "W1": weight_init_std * np.random.randn(input_size, hidden_size),
            "b1": np.zeros(hidden_size),
            "W2": weight_init_std * np.random.randn(hidden_size, output_size),
            "b2": np.zeros(output_size),
        }

    def predict(self, x):
        p = self.params
        z1 = sigmoid(np.dot(x, p["W1"]) + p["b1"])
        return softmax(np.dot(z1, p["W2"]) + p["b2"])

    def loss(self, x, t):
        return cross_entropy_error(self.predict(x), t)

    def accuracy(self, x, t):
        y = np.argmax(self.predict(x), axis=1)
        return np.sum(y == np.argmax(t, axis=1)) / float(x.shape[0])

    def gradient(self, x, t):
        p = self.params
        batch_num = x.shape[0]
        # forward
        a1 = np.dot(x, p["W1"]) + p["b1"]
        z1 = sigmoid(a1)
        y = softmax(np.dot(z1, p["W2"]) + p["b2"])
        # backward
        dy = (y - t) / batch_num
        da1 = np.dot(dy, p["W2"].T)
        dz1 = sigmoid_grad(a1) * da1
        return {
            "W2": np.dot(z1.T, dy),
            "b2": np.sum(dy, axis=0),
            "W1": np.dot(x.T, dz1),
            "b1": np.sum(dz1, axis=0),
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/mnist", help="folder of the MNIST IDX files")
    parser.add_argument("--iters", type=int, default=10000, help="training iterations")
    parser.add_argument("--seed", type=int, help="seed numpy's generator (the book does not)")
    args = parser.parse_args()
    if args.iters < 1:
        parser.error(f"--iters must be at least 1, got {args.iters}")
    if args.seed is not None:
        np.random.seed(args.seed)

    try:
        (x_train, t_train), (x_test, t_test) = load_mnist(args.data)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10)
    iters_num = args.iters
    train_size = x_train.shape[0]
    batch_size = 100
    learning_rate = 0.1
    train_loss_list, train_acc_list, test_acc_list = [], [], []
    iter_per_epoch = max(train_size / batch_size, 1)

    for i in range(iters_num):
        batch_mask = np.random.choice(train_size, batch_size)
        x_batch = x_train[batch_mask]
        t_batch = t_train[batch_mask]

        grad = network.gradient(x_batch, t_batch)
        for key in ("W1", "b1", "W2", "b2"):
            network.params[key] -= learning_rate * grad[key]

        train_loss_list.append(network.loss(x_batch, t_batch))

        if i % iter_per_epoch == 0:
            train_acc = network.accuracy(x_train, t_train)
            test_acc = network.accuracy(x_test, t_test)
            train_acc_list.append(train_acc)
            test_acc_list.append(test_acc)
            print(f"train acc, test acc | {train_acc}, {test_acc}", flush=True)

    wall = time.perf_counter() - START
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(
        f"final: train_acc={train_acc_list[-1]:.4f} test_acc={test_acc_list[-1]:.4f} "
        f"wall_s={wall:.2f} peak_rss_mib={peak_kib / 1024:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
