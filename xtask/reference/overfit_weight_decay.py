#!/usr/bin/env python3
"""NumPy reference of `nn-cli experiment weight-decay`: the book's ch06/overfit_weight_decay.py.

MultiLayerNet 784, six hidden ReLU layers of 100, 10 (He weights), on the first 300 training
images, SGD (lr 0.01), minibatches of 100, 201 epochs, train and test accuracy (all 10000 test
images) every epoch. The book runs the script twice, with weight_decay_lambda 0 and 0.1; this
runs its body for both, one after the other, as the figure of `nn-cli experiment weight-decay`
shows both.
"""

import numpy as np

from ch06_common import SGD, MultiLayerNet, data_or_exit, finish, parse_args


def main():
    args = parse_args(__doc__.split("\n\n")[0])
    (x_train, t_train), (x_test, t_test) = data_or_exit(args.data)
    x_train, t_train = x_train[:300], t_train[:300]
    for weight_decay_lambda in (0, 0.1):
        network = MultiLayerNet(input_size=784, hidden_size_list=[100] * 6, output_size=10,
                                weight_decay_lambda=weight_decay_lambda)
        optimizer = SGD(lr=0.01)
        max_epochs = 201
        train_size = x_train.shape[0]
        batch_size = 100
        train_acc_list, test_acc_list = [], []
        iter_per_epoch = max(train_size / batch_size, 1)
        epoch_cnt = 0
        for i in range(1000000000):
            batch_mask = np.random.choice(train_size, batch_size)
            x_batch, t_batch = x_train[batch_mask], t_train[batch_mask]
            grads = network.gradient(x_batch, t_batch)
            optimizer.update(network.params, grads)
            if i % iter_per_epoch == 0:
                train_acc = network.accuracy(x_train, t_train)
                test_acc = network.accuracy(x_test, t_test)
                train_acc_list.append(train_acc)
                test_acc_list.append(test_acc)
                print(f"epoch:{epoch_cnt}, train acc:{train_acc}, test acc:{test_acc}",
                      flush=True)
                epoch_cnt += 1
                if epoch_cnt >= max_epochs:
                    break
        print(f"lambda {weight_decay_lambda}: train acc {train_acc_list[-1]:.4f}, "
              f"test acc {test_acc_list[-1]:.4f}")
    finish()


if __name__ == "__main__":
    main()
