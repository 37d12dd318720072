#!/usr/bin/env python3
"""The NumPy reference of `cargo xtask bench --net simple-convnet|deep-convnet`.

The book's convolutional networks as its code builds them (Deep Learning from Scratch,
ch07/simple_convnet.py, ch08/deep_convnet.py, common/layers.py, common/util.py's im2col and
col2im, common/optimizer.py's Adam): the same layers, the same initial weights (0.01·randn for
SimpleConvNet, He's for DeepConvNet), float64 weights on float32 images divided by 255, Adam with
lr 0.001, batches of 100 drawn with np.random.choice.

It times training iterations only (a few hundred; the book's full runs take hours in NumPy) and
ends with a parseable line:

    result: iters=200 s_per_iter=0.0871 loss=0.52 wall_s=19.1 peak_rss_mib=512.3

s_per_iter is the mean time of one iteration (gradient and Adam update), measured around the
loop; wall_s is the whole process's time; peak_rss_mib its peak resident memory. Only numpy and
Python's standard library are used.
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


def im2col(input_data, filter_h, filter_w, stride=1, pad=0):
    N, C, H, W = input_data.shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1
    img = np.pad(input_data, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((N, C, filter_h, filter_w, out_h, out_w))
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            col[:, :, y, x, :, :] = img[:, :, y:y_max:stride, x:x_max:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(N * out_h * out_w, -1)


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    N, C, H, W = input_shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1
    col = col.reshape(N, out_h, out_w, C, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1))
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            img[:, :, y:y_max:stride, x:x_max:stride] += col[:, :, y, x, :, :]
    return img[:, :, pad : H + pad, pad : W + pad]


class Relu:
    def forward(self, x, train_flg=False):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout[self.mask] = 0
        return dout


class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x, train_flg=False):
        self.original_x_shape = x.shape
        x = x.reshape(x.shape[0], -1)
        self.x = x
        return np.dot(self.x, self.W) + self.b

    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx.reshape(*self.original_x_shape)


class Convolution:
    def __init__(self, W, b, stride=1, pad=0):
        self.W, self.b, self.stride, self.pad = W, b, stride, pad

    def forward(self, x, train_flg=False):
        FN, C, FH, FW = self.W.shape
        N, C, H, W = x.shape
        out_h = 1 + int((H + 2 * self.pad - FH) / self.stride)
        out_w = 1 + int((W + 2 * self.pad - FW) / self.stride)
        col = im2col(x, FH, FW, self.stride, self.pad)
        col_W = self.W.reshape(FN, -1).T
        out = np.dot(col, col_W) + self.b
        out = out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)
        self.x, self.col, self.col_W = x, col, col_W
        return out

    def backward(self, dout):
        FN, C, FH, FW = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)
        self.db = np.sum(dout, axis=0)
        self.dW = np.dot(self.col.T, dout).transpose(1, 0).reshape(FN, C, FH, FW)
        dcol = np.dot(dout, self.col_W.T)
        return col2im(dcol, self.x.shape, FH, FW, self.stride, self.pad)


class Pooling:
    def __init__(self, pool_h, pool_w, stride=1, pad=0):
        self.pool_h, self.pool_w, self.stride, self.pad = pool_h, pool_w, stride, pad

    def forward(self, x, train_flg=False):
        N, C, H, W = x.shape
        out_h = int(1 + (H - self.pool_h) / self.stride)
        out_w = int(1 + (W - self.pool_w) / self.stride)
        col = im2col(x, self.pool_h, self.pool_w, self.stride, self.pad)
        col = col.reshape(-1, self.pool_h * self.pool_w)
        self.arg_max = np.argmax(col, axis=1)
        out = np.max(col, axis=1).reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)
        self.x = x
        return out

    def backward(self, dout):
        dout = dout.transpose(0, 2, 3, 1)
        pool_size = self.pool_h * self.pool_w
        dmax = np.zeros((dout.size, pool_size))
        dmax[np.arange(self.arg_max.size), self.arg_max.flatten()] = dout.flatten()
        dmax = dmax.reshape(dout.shape + (pool_size,))
        dcol = dmax.reshape(dmax.shape[0] * dmax.shape[1] * dmax.shape[2], -1)
        return col2im(dcol, self.x.shape, self.pool_h, self.pool_w, self.stride, self.pad)


class Dropout:
    def __init__(self, dropout_ratio=0.5):
        self.dropout_ratio = dropout_ratio

    def forward(self, x, train_flg=True):
        if train_flg:
            self.mask = np.random.rand(*x.shape) > self.dropout_ratio
            return x * self.mask
        return x * (1.0 - self.dropout_ratio)

    def backward(self, dout):
        return dout * self.mask


def softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


class SoftmaxWithLoss:
    def forward(self, x, t):
        self.t = t
        self.y = softmax(x)
        batch_size = self.y.shape[0]
        return -np.sum(np.log(self.y[np.arange(batch_size), t] + 1e-7)) / batch_size

    def backward(self):
        batch_size = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(batch_size), self.t] -= 1
        return dx / batch_size


class Net:
    """A stack of layers; `params` maps W1, b1... to the arrays the layers hold."""

    def __init__(self, layers, params):
        self.layers, self.params = layers, params
        self.last_layer = SoftmaxWithLoss()

    def loss(self, x, t):
        for layer in self.layers:
            x = layer.forward(x, True)
        return self.last_layer.forward(x, t)

    def gradient(self, x, t):
        loss = self.loss(x, t)
        dout = self.last_layer.backward()
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        grads = {}
        for n, layer in enumerate(l for l in self.layers if isinstance(l, (Convolution, Affine))):
            grads[f"W{n + 1}"], grads[f"b{n + 1}"] = layer.dW, layer.db
        return loss, grads


def simple_convnet():
    """ch07/simple_convnet.py: conv 30×5×5, ReLU, pool 2×2, affine 100, ReLU, affine 10."""
    std = 0.01
    p = {
        "W1": std * np.random.randn(30, 1, 5, 5),
        "b1": np.zeros(30),
        "W2": std * np.random.randn(30 * 12 * 12, 100),
        "b2": np.zeros(100),
        "W3": std * np.random.randn(100, 10),
        "b3": np.zeros(10),
    }
    layers = [
        Convolution(p["W1"], p["b1"], 1, 0),
        Relu(),
        Pooling(2, 2, 2),
        Affine(p["W2"], p["b2"]),
        Relu(),
        Affine(p["W3"], p["b3"]),
    ]
    return Net(layers, p)


def deep_convnet():
    """ch08/deep_convnet.py: six 3×3 convolutions, three poolings, affine 50, two dropouts."""
    convs = [(16, 1, 1), (16, 16, 1), (32, 16, 1), (32, 32, 2), (64, 32, 1), (64, 64, 1)]
    pre_node_nums = np.array([1 * 9, 16 * 9, 16 * 9, 32 * 9, 32 * 9, 64 * 9, 64 * 4 * 4, 50])
    scales = np.sqrt(2.0 / pre_node_nums)
    p, layers = {}, []
    for i, (fn, c, pad) in enumerate(convs):
        p[f"W{i + 1}"] = scales[i] * np.random.randn(fn, c, 3, 3)
        p[f"b{i + 1}"] = np.zeros(fn)
        layers += [Convolution(p[f"W{i + 1}"], p[f"b{i + 1}"], 1, pad), Relu()]
        if i % 2 == 1:
            layers.append(Pooling(2, 2, 2))
    p["W7"], p["b7"] = scales[6] * np.random.randn(64 * 4 * 4, 50), np.zeros(50)
    p["W8"], p["b8"] = scales[7] * np.random.randn(50, 10), np.zeros(10)
    layers += [
        Affine(p["W7"], p["b7"]),
        Relu(),
        Dropout(0.5),
        Affine(p["W8"], p["b8"]),
        Dropout(0.5),
    ]
    return Net(layers, p)


class Adam:
    """common/optimizer.py's Adam (updates the arrays in place, as the layers share them)."""

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr, self.beta1, self.beta2, self.iter = lr, beta1, beta2, 0
        self.m = self.v = None

    def update(self, params, grads):
        if self.m is None:
            self.m = {k: np.zeros_like(v) for k, v in params.items()}
            self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2**self.iter) / (1.0 - self.beta1**self.iter)
        for key in params.keys():
            self.m[key] += (1 - self.beta1) * (grads[key] - self.m[key])
            self.v[key] += (1 - self.beta2) * (grads[key] ** 2 - self.v[key])
            params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + 1e-7)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--net", choices=["simple-convnet", "deep-convnet"], required=True)
    parser.add_argument("--data", default="data/mnist", help="folder of the MNIST IDX files")
    parser.add_argument("--iters", type=int, default=200, help="training iterations timed")
    parser.add_argument("--seed", type=int, default=0, help="seed of numpy's generator")
    args = parser.parse_args()
    if args.iters < 1:
        parser.error(f"--iters must be at least 1, got {args.iters}")
    np.random.seed(args.seed)
    try:
        (x_train, t_train), _ = load_mnist(args.data)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    x_train = x_train.reshape(-1, 1, 28, 28)
    t_train = t_train.argmax(axis=1)
    network = simple_convnet() if args.net == "simple-convnet" else deep_convnet()
    optimizer = Adam(lr=0.001)
    loop_start = time.perf_counter()
    for _ in range(args.iters):
        batch_mask = np.random.choice(x_train.shape[0], 100)
        loss, grads = network.gradient(x_train[batch_mask], t_train[batch_mask])
        optimizer.update(network.params, grads)
    loop = time.perf_counter() - loop_start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(
        f"result: iters={args.iters} s_per_iter={loop / args.iters:.5f} loss={loss:.4f} "
        f"wall_s={time.perf_counter() - START:.2f} peak_rss_mib={peak_kib / 1024:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
