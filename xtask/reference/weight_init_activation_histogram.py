#!/usr/bin/env python3
"""NumPy reference of `nn-cli experiment init-histogram`: the book's
ch06/weight_init_activation_histogram.py.

1000 random inputs of 100 values through 5 layers of 100 neurons (weights only), the
activations of each layer counted in 30 bins over [0, 1]. The book edits the script for each of
its figures (the weights' scale, sigmoid or ReLU); this runs its body once for each of the six
settings that `nn-cli experiment init-histogram` draws, and prints the counts' peaks.
"""

import numpy as np

from ch06_common import finish, parse_args, sigmoid


def ReLU(x):
    return np.maximum(0, x)


SETTINGS = [
    ("sigmoid, std 1", sigmoid, lambda n: 1.0),
    ("sigmoid, std 0.01", sigmoid, lambda n: 0.01),
    ("sigmoid, Xavier", sigmoid, lambda n: np.sqrt(1.0 / n)),
    ("ReLU, std 0.01", ReLU, lambda n: 0.01),
    ("ReLU, Xavier", ReLU, lambda n: np.sqrt(1.0 / n)),
    ("ReLU, He", ReLU, lambda n: np.sqrt(2.0 / n)),
]


def main():
    parse_args(__doc__.split("\n\n")[0])
    for name, activation, scale in SETTINGS:
        input_data = np.random.randn(1000, 100)
        node_num = 100
        hidden_layer_size = 5
        activations = {}
        x = input_data
        for i in range(hidden_layer_size):
            if i != 0:
                x = activations[i - 1]
            w = np.random.randn(node_num, node_num) * scale(node_num)
            a = np.dot(x, w)
            activations[i] = activation(a)
        # What plt.hist(a.flatten(), 30, range=(0,1)) counts.
        peaks = [int(np.histogram(a.flatten(), 30, range=(0, 1))[0].max())
                 for a in activations.values()]
        print(f"{name}: tallest bar of each layer {peaks}")
    finish()


if __name__ == "__main__":
    main()
