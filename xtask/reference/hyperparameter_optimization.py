#!/usr/bin/env python3
"""NumPy reference of `nn-cli experiment hyperparams`: the book's
ch06/hyperparameter_optimization.py.

The first 500 training images shuffled, 20% for validation; 100 trials, each drawing a weight
decay 10^U(-8, -4) and a learning rate 10^U(-6, -2) and training MultiLayerNet (six hidden ReLU
layers of 100) by the book's Trainer (SGD, minibatches of 100, 50 epochs, validation as its
test set); the 20 best by final validation accuracy printed. --trials N runs N trials (for a
timing extrapolated from a part).
"""

import numpy as np

from ch06_common import MultiLayerNet, Trainer, data_or_exit, finish, parse_args, shuffle_dataset


def main():
    args = parse_args(__doc__.split("\n\n")[0],
                      trials=(int, 100, "random trials (the book's 100)"))
    (x_train, t_train), _ = data_or_exit(args.data)
    x_train, t_train = x_train[:500], t_train[:500]
    validation_rate = 0.20
    validation_num = int(x_train.shape[0] * validation_rate)
    x_train, t_train = shuffle_dataset(x_train, t_train)
    x_val, t_val = x_train[:validation_num], t_train[:validation_num]
    x_train, t_train = x_train[validation_num:], t_train[validation_num:]

    def train(lr, weight_decay, epocs=50):
        network = MultiLayerNet(input_size=784, hidden_size_list=[100] * 6, output_size=10,
                                weight_decay_lambda=weight_decay)
        trainer = Trainer(network, x_train, t_train, x_val, t_val, epochs=epocs,
                          mini_batch_size=100, optimizer="sgd", optimizer_param={"lr": lr},
                          verbose=False)
        trainer.train()
        return trainer.test_acc_list, trainer.train_acc_list

    results_val, results_train = {}, {}
    for _ in range(args.trials):
        weight_decay = 10 ** np.random.uniform(-4, -8)
        lr = 10 ** np.random.uniform(-2, -6)
        val_acc_list, train_acc_list = train(lr, weight_decay)
        print(f"val acc:{val_acc_list[-1]} | lr:{lr}, weight decay:{weight_decay}", flush=True)
        key = f"lr:{lr}, weight decay:{weight_decay}"
        results_val[key] = val_acc_list
        results_train[key] = train_acc_list

    print("=========== Hyper-Parameter Optimization Result ===========")
    ranked = sorted(results_val.items(), key=lambda x: x[1][-1], reverse=True)
    for i, (key, val_acc_list) in enumerate(ranked[:20]):
        print(f"Best-{i + 1}(val acc:{val_acc_list[-1]}) | {key}")
    finish(f"trials={args.trials}/100")


if __name__ == "__main__":
    main()
