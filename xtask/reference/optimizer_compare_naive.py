#!/usr/bin/env python3
"""NumPy reference of `nn-cli experiment optimizers-2d`: the book's ch06/optimizer_compare_naive.py.

SGD (lr 0.95), Momentum (0.1), AdaGrad (1.5) and Adam (0.3) on f(x, y) = x²/20 + y², 30 steps
from (-7, 2), and the contour grid of f over [-10, 10) x [-5, 5) by 0.01 that the book draws
under the paths. Prints each path's last point instead of plotting.
"""

from collections import OrderedDict

import numpy as np

from ch06_common import SGD, AdaGrad, Adam, Momentum, finish, parse_args


def f(x, y):
    return x**2 / 20.0 + y**2


def df(x, y):
    return x / 10.0, 2.0 * y


def main():
    parse_args(__doc__.split("\n\n")[0])
    init_pos = (-7.0, 2.0)
    params, grads = {}, {}
    optimizers = OrderedDict()
    optimizers["SGD"] = SGD(lr=0.95)
    optimizers["Momentum"] = Momentum(lr=0.1)
    optimizers["AdaGrad"] = AdaGrad(lr=1.5)
    optimizers["Adam"] = Adam(lr=0.3)
    for key, optimizer in optimizers.items():
        x_history, y_history = [], []
        params["x"], params["y"] = init_pos
        for _ in range(30):
            x_history.append(params["x"])
            y_history.append(params["y"])
            grads["x"], grads["y"] = df(params["x"], params["y"])
            optimizer.update(params, grads)
        # The contour plot's grid, as the book computes it for each panel.
        X, Y = np.meshgrid(np.arange(-10, 10, 0.01), np.arange(-5, 5, 0.01))
        Z = f(X, Y)
        Z[Z > 7] = 0
        print(f"{key}: after 30 steps at ({params['x']:.4f}, {params['y']:.4f})")
    finish()


if __name__ == "__main__":
    main()
