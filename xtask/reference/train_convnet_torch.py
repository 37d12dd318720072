#!/usr/bin/env python3
"""The PyTorch reference of `cargo xtask bench --net simple-convnet|deep-convnet`.

The book's SimpleConvNet (ch07) and DeepConvNet (ch08) in PyTorch on the CPU: the same layers
and initial weights as train_convnet.py (the NumPy reference), float32, Adam with lr 0.001,
batches of 100 drawn at random with replacement, torch.set_num_threads(2) (or --threads). It
times training iterations only and ends with the same parseable line as the NumPy reference:

    result: iters=200 s_per_iter=0.0080 loss=0.52 wall_s=9.1 peak_rss_mib=412.3

If torch cannot be imported it says so on stderr and exits with code 3.
"""

import time

START = time.perf_counter()

import argparse
import os
import resource
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_neuralnet import DataError, load_mnist  # noqa: E402

try:
    import torch
    from torch import nn
except ImportError as e:
    print(
        f"error: cannot import torch ({e}): `cargo xtask bench --net ...` installs it into "
        "target/py-venv and runs this script with that environment's python",
        file=sys.stderr,
    )
    sys.exit(3)


def init(layer, std):
    """The book's initial weights: `std`·randn, zero biases."""
    with torch.no_grad():
        layer.weight.normal_(0.0, std)
        layer.bias.zero_()
    return layer


def simple_convnet():
    """ch07/simple_convnet.py: conv 30×5×5, ReLU, pool 2×2, affine 100, ReLU, affine 10."""
    return nn.Sequential(
        init(nn.Conv2d(1, 30, 5), 0.01),
        nn.ReLU(),
        nn.MaxPool2d(2, 2),
        nn.Flatten(),
        init(nn.Linear(30 * 12 * 12, 100), 0.01),
        nn.ReLU(),
        init(nn.Linear(100, 10), 0.01),
    )


def deep_convnet():
    """ch08/deep_convnet.py: six 3×3 convolutions, three poolings, affine 50, two dropouts."""
    convs = [(16, 1, 1), (16, 16, 1), (32, 16, 1), (32, 32, 2), (64, 32, 1), (64, 64, 1)]
    layers = []
    for i, (fn, c, pad) in enumerate(convs):
        layers += [init(nn.Conv2d(c, fn, 3, padding=pad), (2.0 / (c * 9)) ** 0.5), nn.ReLU()]
        if i % 2 == 1:
            layers.append(nn.MaxPool2d(2, 2))
    layers += [
        nn.Flatten(),
        init(nn.Linear(64 * 4 * 4, 50), (2.0 / (64 * 4 * 4)) ** 0.5),
        nn.ReLU(),
        nn.Dropout(0.5),
        init(nn.Linear(50, 10), (2.0 / 50) ** 0.5),
        nn.Dropout(0.5),
    ]
    return nn.Sequential(*layers)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--net", choices=["simple-convnet", "deep-convnet"], required=True)
    parser.add_argument("--data", default="data/mnist", help="folder of the MNIST IDX files")
    parser.add_argument("--iters", type=int, default=200, help="training iterations timed")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--seed", type=int, default=0, help="seed of torch's generator")
    args = parser.parse_args()
    if args.iters < 1:
        parser.error(f"--iters must be at least 1, got {args.iters}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    try:
        (x_train, t_train), _ = load_mnist(args.data)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    x = torch.from_numpy(np.ascontiguousarray(x_train.reshape(-1, 1, 28, 28)))
    t = torch.from_numpy(t_train.argmax(axis=1))
    network = simple_convnet() if args.net == "simple-convnet" else deep_convnet()
    network.train()
    optimizer = torch.optim.Adam(network.parameters(), lr=0.001, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    loop_start = time.perf_counter()
    for _ in range(args.iters):
        batch = torch.randint(0, x.shape[0], (100,))
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(network(x[batch]), t[batch])
        loss.backward()
        optimizer.step()
    loop = time.perf_counter() - loop_start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(
        f"result: iters={args.iters} s_per_iter={loop / args.iters:.5f} loss={loss.item():.4f} "
        f"wall_s={time.perf_counter() - START:.2f} peak_rss_mib={peak_kib / 1024:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
