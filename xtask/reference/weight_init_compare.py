#!/usr/bin/env python3
"""NumPy reference of `nn-cli experiment init`: the book's ch06/weight_init_compare.py.

MultiLayerNet 784-100-100-100-100-10 (ReLU) started with weights of std 0.01, Xavier's and
He's, trained by one SGD (lr 0.01) on the same minibatches of 128, 2000 iterations, the loss
recomputed after each update; the smoothed curves' last values printed instead of plotted.
"""

import numpy as np

from ch06_common import SGD, MultiLayerNet, data_or_exit, finish, parse_args, smooth_curve


def main():
    args = parse_args(__doc__.split("\n\n")[0],
                      max_iterations=(int, 2000, "iterations (the book's 2000)"))
    (x_train, t_train), _ = data_or_exit(args.data)
    train_size = x_train.shape[0]
    batch_size = 128
    max_iterations = args.max_iterations

    weight_init_types = {"std=0.01": 0.01, "Xavier": "sigmoid", "He": "relu"}
    optimizer = SGD(lr=0.01)
    networks, train_loss = {}, {}
    for key, weight_type in weight_init_types.items():
        networks[key] = MultiLayerNet(input_size=784, hidden_size_list=[100, 100, 100, 100],
                                      output_size=10, weight_init_std=weight_type)
        train_loss[key] = []

    for i in range(max_iterations):
        batch_mask = np.random.choice(train_size, batch_size)
        x_batch, t_batch = x_train[batch_mask], t_train[batch_mask]
        for key in weight_init_types:
            grads = networks[key].gradient(x_batch, t_batch)
            optimizer.update(networks[key].params, grads)
            train_loss[key].append(networks[key].loss(x_batch, t_batch))
        if i % 100 == 0:
            print(f"===========iteration:{i}===========")
            for key in weight_init_types:
                print(f"{key}:{networks[key].loss(x_batch, t_batch)}", flush=True)

    for key in weight_init_types:
        print(f"{key}: smoothed loss at the end {smooth_curve(train_loss[key])[-1]:.4f}")
    finish()


if __name__ == "__main__":
    main()
