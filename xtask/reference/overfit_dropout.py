#!/usr/bin/env python3
"""NumPy reference of `nn-cli experiment dropout`: the book's ch06/overfit_dropout.py.

MultiLayerNetExtend 784, six hidden ReLU layers of 100, 10 (He weights), on the first 300
training images, trained by the book's Trainer (SGD, lr 0.01, minibatches of 100, 301 epochs,
train and test accuracy over all images every epoch). The book runs the script twice, with
use_dropout False and True (ratio 0.2); this runs its body for both, one after the other, as
the figure of `nn-cli experiment dropout` shows both.
"""

from ch06_common import MultiLayerNetExtend, Trainer, data_or_exit, finish, parse_args


def main():
    args = parse_args(__doc__.split("\n\n")[0])
    (x_train, t_train), (x_test, t_test) = data_or_exit(args.data)
    x_train, t_train = x_train[:300], t_train[:300]
    for use_dropout in (False, True):
        dropout_ratio = 0.2
        network = MultiLayerNetExtend(input_size=784, hidden_size_list=[100] * 6,
                                      output_size=10, use_dropout=use_dropout,
                                      dropout_ration=dropout_ratio)
        trainer = Trainer(network, x_train, t_train, x_test, t_test, epochs=301,
                          mini_batch_size=100, optimizer="sgd", optimizer_param={"lr": 0.01},
                          verbose=True)
        trainer.train()
        print(f"dropout {use_dropout}: train acc {trainer.train_acc_list[-1]:.4f}, "
              f"test acc {trainer.test_acc_list[-1]:.4f}")
    finish()


if __name__ == "__main__":
    main()
