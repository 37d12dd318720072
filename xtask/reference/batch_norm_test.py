#!/usr/bin/env python3
"""NumPy reference of `nn-cli experiment batch-norm`: the book's ch06/batch_norm_test.py.

MultiLayerNetExtend 784, five hidden ReLU layers of 100, 10, with and without batch norm, for
16 weight scales np.logspace(0, -4, 16), trained by one SGD (lr 0.01) on the same minibatches of
100 of the first 1000 training images, the training accuracy over those 1000 every epoch, 20
epochs. --scales N runs the first N scales only (for a timing extrapolated from a part).
"""

import numpy as np

from ch06_common import SGD, MultiLayerNetExtend, data_or_exit, finish, parse_args


def main():
    args = parse_args(__doc__.split("\n\n")[0],
                      scales=(int, 16, "how many of the 16 weight scales to run"))
    (x_train, t_train), _ = data_or_exit(args.data)
    x_train, t_train = x_train[:1000], t_train[:1000]
    max_epochs = 20
    train_size = x_train.shape[0]
    batch_size = 100
    learning_rate = 0.01

    def train(weight_init_std):
        bn_network = MultiLayerNetExtend(input_size=784, hidden_size_list=[100] * 5,
                                         output_size=10, weight_init_std=weight_init_std,
                                         use_batchnorm=True)
        network = MultiLayerNetExtend(input_size=784, hidden_size_list=[100] * 5,
                                      output_size=10, weight_init_std=weight_init_std)
        optimizer = SGD(lr=learning_rate)
        train_acc_list, bn_train_acc_list = [], []
        iter_per_epoch = max(train_size / batch_size, 1)
        epoch_cnt = 0
        for i in range(1000000000):
            batch_mask = np.random.choice(train_size, batch_size)
            x_batch, t_batch = x_train[batch_mask], t_train[batch_mask]
            for _network in (bn_network, network):
                grads = _network.gradient(x_batch, t_batch)
                optimizer.update(_network.params, grads)
            if i % iter_per_epoch == 0:
                train_acc = network.accuracy(x_train, t_train)
                bn_train_acc = bn_network.accuracy(x_train, t_train)
                train_acc_list.append(train_acc)
                bn_train_acc_list.append(bn_train_acc)
                print(f"epoch:{epoch_cnt} | {train_acc} - {bn_train_acc}", flush=True)
                epoch_cnt += 1
                if epoch_cnt >= max_epochs:
                    break
        return train_acc_list, bn_train_acc_list

    weight_scale_list = np.logspace(0, -4, num=16)
    for i, w in enumerate(weight_scale_list[: args.scales]):
        print(f"============== {i + 1}/16 ==============")
        train_acc_list, bn_train_acc_list = train(w)
        print(f"W:{w:.4g}: without {train_acc_list[-1]:.3f}, with batch norm "
              f"{bn_train_acc_list[-1]:.3f}")
    finish(f"scales={min(args.scales, 16)}/16")


if __name__ == "__main__":
    main()
