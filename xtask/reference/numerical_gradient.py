#!/usr/bin/env python3
"""The book's numerical gradient of its two-layer network, timed per iteration.

Deep Learning from Scratch, ch04/two_layer_net.py's `numerical_gradient` with
common/gradient.py's `numerical_gradient` (np.nditer over every entry of each parameter,
`(f(x + h) - f(x - h)) / (2*h)` with h = 1e-4, each f a whole forward pass and the book's
cross-entropy error): what `ch04/train_neuralnet.py` runs per iteration when its
`network.numerical_gradient(x_batch, t_batch)` line is the one left uncommented.

It loads MNIST like train_neuralnet.py (beside this file), draws batches of 100 with
np.random.choice and times --iters calls, printing one line per call and a summary:

    numpy numerical_gradient: 784-50-10, batch 100: 9.71 s per iteration (median of 2)

Only numpy and Python's standard library are used.
"""

import argparse
import sys
import time

import numpy as np

from train_neuralnet import DataError, TwoLayerNet, load_mnist


def numerical_gradient(f, x):
    """common/gradient.py of the book, as it is."""
    h = 1e-4  # 0.0001
    grad = np.zeros_like(x)

    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        idx = it.multi_index
        tmp_val = x[idx]
        x[idx] = float(tmp_val) + h
        fxh1 = f(x)  # f(x+h)

        x[idx] = tmp_val - h
        fxh2 = f(x)  # f(x-h)
        grad[idx] = (fxh1 - fxh2) / (2 * h)

        x[idx] = tmp_val  # restore
        it.iternext()

    return grad


def network_numerical_gradient(network, x, t):
    """TwoLayerNet.numerical_gradient of ch04/two_layer_net.py."""
    loss_W = lambda W: network.loss(x, t)  # noqa: E731 (the book's lambda)
    grads = {}
    for key in ("W1", "b1", "W2", "b2"):
        grads[key] = numerical_gradient(loss_W, network.params[key])
    return grads


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/mnist", help="folder of the MNIST IDX files")
    parser.add_argument("--iters", type=int, default=2, help="timed iterations")
    parser.add_argument("--seed", type=int, default=0, help="seed of numpy's generator")
    args = parser.parse_args()
    np.random.seed(args.seed)
    try:
        (x_train, t_train), _ = load_mnist(args.data)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10)
    times = []
    for i in range(args.iters):
        batch_mask = np.random.choice(x_train.shape[0], 100)
        x_batch, t_batch = x_train[batch_mask], t_train[batch_mask]
        start = time.perf_counter()
        network_numerical_gradient(network, x_batch, t_batch)
        times.append(time.perf_counter() - start)
        print(f"iteration {i}: {times[-1]:.2f} s", flush=True)
    print(
        f"numpy numerical_gradient: 784-50-10, batch 100: {np.median(times):.2f} s per iteration "
        f"(median of {len(times)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
