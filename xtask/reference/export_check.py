"""The consumers of `nn-cli export`, on the 10000 MNIST test images (nn-cli's tests run this).

- ONNX: `onnx.checker.check_model(full_check=True)`, then ONNX Runtime (CPUExecutionProvider)
  on images of shape (N, 1, 28, 28), float32 pixels / 255; writes the `scores` and
  `probabilities` outputs (float32, little-endian, 10000 x 10 each, one after the other) to
  --scores-out, prints `onnx acc 0.XXXX`.
- The book's Python classes (vendored unchanged under reference/book/): the .pkl loaded by
  the class's own `load_params` (SimpleConvNet, DeepConvNet) or by assigning `params` in place
  (TwoLayerNet of ch04 for sigmoid, of ch05 for ReLU, MultiLayerNetExtend, which have no
  load_params; batch norm's running
  statistics set on its layers), then the class's own `accuracy` in float64 on the first
  --book-images images (default all); prints `pkl correct C/N`. The .npz: every array equal
  (values, shape, dtype float64) to the pickle's; for the fully connected nets (cheap) its
  count through the class too, `npz correct C/N`; and each of its `.npy` entries byte for byte
  what `numpy.save` writes. With --same-as, every array equal to the book's own pickle's.
- safetensors: `safetensors.numpy.load_file`, every tensor the float32 of the .npz's array,
  the same names and shapes; prints `safetensors equal N`.

`--net other` (a network the book has no class of) skips the book's classes.

Any mismatch raises (exit status 1).
"""

import argparse
import io
import os
import pickle
import re
import sys
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "book"))

from train_neuralnet import IMAGES_MAGIC, LABELS_MAGIC, read_idx  # noqa: E402


def test_set(folder):
    images = read_idx(folder, "t10k-images-idx3-ubyte", IMAGES_MAGIC)
    labels = read_idx(folder, "t10k-labels-idx1-ubyte", LABELS_MAGIC)
    # The book's load_mnist(normalize=True): float32, / 255.0.
    x = images.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
    return x, labels.astype(np.int64)


def check_onnx(path, x, t, scores_out):
    import onnx
    import onnxruntime as ort

    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    assert names == ["scores", "probabilities"], names
    assert [i.name for i in session.get_inputs()] == ["image"]
    # (N, 1, 28, 28), or (N, 784) for a network of flat inputs.
    shape = session.get_inputs()[0].shape
    x = x.reshape([len(x)] + shape[1:])
    scores, probabilities = [], []
    for start in range(0, len(x), 1000):
        s, p = session.run(None, {"image": x[start : start + 1000]})
        scores.append(s)
        probabilities.append(p)
    scores = np.concatenate(scores).astype("<f4")
    probabilities = np.concatenate(probabilities).astype("<f4")
    with open(scores_out, "wb") as f:
        f.write(scores.tobytes())
        f.write(probabilities.tobytes())
    acc = float(np.mean(np.argmax(scores, axis=1) == t))
    print(f"onnx acc {acc:.4f}")


def book_net(args, params):
    """The book's class for --net, its parameters set from `params` (a dict of arrays)."""
    if args.net == "simple-convnet":
        from ch07.simple_convnet import SimpleConvNet

        return SimpleConvNet(), True
    if args.net == "deep-convnet":
        from ch08.deep_convnet import DeepConvNet

        return DeepConvNet(), True
    hidden = [params[f"W{i}"].shape[1] for i in range(1, 100) if f"W{i}" in params][:-1]
    if args.net == "two-layer" and args.activation == "sigmoid":
        from ch04.two_layer_net import TwoLayerNet

        net = TwoLayerNet(784, hidden[0], 10)
    elif args.net == "two-layer":
        from ch05.two_layer_net import TwoLayerNet

        assert args.activation == "relu", args.activation
        net = TwoLayerNet(784, hidden[0], 10)
    else:
        from common.multi_layer_net_extend import MultiLayerNetExtend

        net = MultiLayerNetExtend(
            784,
            hidden,
            10,
            activation=args.activation,
            use_dropout=args.dropout is not None,
            dropout_ration=args.dropout or 0.5,
            use_batchnorm=args.batch_norm,
        )
    return net, False


def assign(net, params):
    """Sets the parameters of a class without load_params: in place, since its layers hold
    the very arrays of `net.params`; batch norm's running statistics on its layers."""
    expected = set(net.params)
    stats = {k for k in params if k.startswith("running_")}
    assert set(params) - stats == expected, (sorted(params), sorted(expected))
    for key in expected:
        assert net.params[key].shape == params[key].shape, key
        net.params[key][...] = params[key]
    for key in stats:
        attribute, number = re.fullmatch(r"(running_mean|running_var)(\d+)", key).groups()
        setattr(net.layers["BatchNorm" + number], attribute, params[key].copy())


def book_accuracy(args, params, pkl_path, x, t):
    net, has_load_params = book_net(args, params)
    if has_load_params:
        net.load_params(pkl_path)
        return net.accuracy(x, t)
    assign(net, params)
    if args.net == "two-layer":
        return net.accuracy(x.reshape(len(x), -1), np.eye(10)[t])
    return net.accuracy(x.reshape(len(x), -1), t)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--net", required=True,
                        choices=["two-layer", "multi-layer", "simple-convnet", "deep-convnet", "other"])
    parser.add_argument("--activation", default="relu", choices=["relu", "sigmoid"])
    parser.add_argument("--batch-norm", action="store_true")
    parser.add_argument("--dropout", type=float)
    parser.add_argument("--onnx")
    parser.add_argument("--scores-out")
    parser.add_argument("--npz", required=True)
    parser.add_argument("--pkl", required=True)
    parser.add_argument("--safetensors")
    parser.add_argument("--book-images", type=int,
                        help="the book's classes score the first N images only (default: all)")
    parser.add_argument("--same-as", help="the book's own pickle the exported arrays must equal")
    args = parser.parse_args()

    x, t = test_set(args.data)
    if args.onnx:
        check_onnx(args.onnx, x, t, args.scores_out)

    with open(args.pkl, "rb") as f:
        pickled = pickle.load(f)
    with np.load(args.npz) as npz:
        arrays = {k: npz[k] for k in npz.files}
    assert list(arrays) == list(pickled), (list(arrays), list(pickled))
    # Each .npy entry byte for byte what numpy.save writes of the array it holds.
    with zipfile.ZipFile(args.npz) as archive:
        for name in archive.namelist():
            raw = archive.read(name)
            again = io.BytesIO()
            np.save(again, np.load(io.BytesIO(raw)))
            assert again.getvalue() == raw, name
    for k, v in arrays.items():
        p = pickled[k]
        assert type(p) is np.ndarray and p.dtype == np.float64 and v.dtype == np.float64, k
        assert v.shape == p.shape and np.array_equal(v, p), k

    if args.same_as:
        # The book's own file: the very arrays, so the book's class scores what it scores on it.
        with open(args.same_as, "rb") as f:
            original = pickle.load(f)
        assert sorted(original) == sorted(arrays), (sorted(original), sorted(arrays))
        for k, v in original.items():
            assert v.shape == arrays[k].shape and np.array_equal(v, arrays[k]), k
        print(f"same as the original {len(original)}")

    n = args.book_images or len(x)
    if args.net != "other":
        correct = round(book_accuracy(args, pickled, args.pkl, x[:n], t[:n]) * n)
        print(f"pkl correct {correct}/{n}")
    if args.net in ("two-layer", "multi-layer"):
        correct = round(book_accuracy(args, arrays, args.pkl, x[:n], t[:n]) * n)
        print(f"npz correct {correct}/{n}")

    if args.safetensors:
        from safetensors.numpy import load_file

        tensors = load_file(args.safetensors)
        assert sorted(tensors) == sorted(arrays), (sorted(tensors), sorted(arrays))
        for k, v in tensors.items():
            assert v.dtype == np.float32 and v.shape == arrays[k].shape, k
            assert np.array_equal(v, arrays[k].astype(np.float32)), k
        print(f"safetensors equal {len(tensors)}")


if __name__ == "__main__":
    main()
