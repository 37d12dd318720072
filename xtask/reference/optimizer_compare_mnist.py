#!/usr/bin/env python3
"""NumPy reference of `nn-cli experiment optimizers`: the book's ch06/optimizer_compare_mnist.py.

MultiLayerNet 784-100-100-100-100-10 (ReLU, He weights) trained by SGD, Momentum, AdaGrad and
Adam (the classes' default learning rates) on the same minibatches of 128, 2000 iterations,
the loss recomputed after each update, printed every 100 iterations; the smoothed curves'
last values printed instead of plotted.
"""

import numpy as np

from ch06_common import (SGD, AdaGrad, Adam, Momentum, MultiLayerNet, data_or_exit, finish,
                         parse_args, smooth_curve)


def main():
    args = parse_args(__doc__.split("\n\n")[0],
                      max_iterations=(int, 2000, "iterations (the book's 2000)"))
    (x_train, t_train), _ = data_or_exit(args.data)
    train_size = x_train.shape[0]
    batch_size = 128
    max_iterations = args.max_iterations

    optimizers = {"SGD": SGD(), "Momentum": Momentum(), "AdaGrad": AdaGrad(), "Adam": Adam()}
    networks, train_loss = {}, {}
    for key in optimizers:
        networks[key] = MultiLayerNet(input_size=784, hidden_size_list=[100, 100, 100, 100],
                                      output_size=10)
        train_loss[key] = []

    for i in range(max_iterations):
        batch_mask = np.random.choice(train_size, batch_size)
        x_batch, t_batch = x_train[batch_mask], t_train[batch_mask]
        for key in optimizers:
            grads = networks[key].gradient(x_batch, t_batch)
            optimizers[key].update(networks[key].params, grads)
            train_loss[key].append(networks[key].loss(x_batch, t_batch))
        if i % 100 == 0:
            print(f"===========iteration:{i}===========")
            for key in optimizers:
                print(f"{key}:{networks[key].loss(x_batch, t_batch)}", flush=True)

    for key in optimizers:
        print(f"{key}: smoothed loss at the end {smooth_curve(train_loss[key])[-1]:.4f}")
    finish()


if __name__ == "__main__":
    main()
