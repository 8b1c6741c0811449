#!/usr/bin/python3
"""Reference fixtures for the network tests, made with PyTorch (python3-torch). Committed in
tests/nn/fixtures/; rerun to regenerate (outputs are deterministic for a given torch):

    /usr/bin/python3 tests/nn/make_torch_fixtures.py

For each model: <name>.spec.json (layout torch), <name>.npz (its state_dict), <name>.input.npy,
<name>.expected.npy (PyTorch's outputs in eval mode). For the Keras-layout parity cases the
same weights are rearranged as Keras stores them (Dense (in,out), Conv2D HWIO, flatten in
H,W,C order, gamma/beta/moving_*), with a channels-last input, a positional archive
(np.savez(*get_weights())) and a flat 1-D vector of every weight.
"""
import json
import os

import numpy as np
import torch
from torch import nn

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
torch.manual_seed(2026)


def randomize_batchnorm(model):
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)


MODELS = {
    # Linear, folded BatchNorm1d, relu, tanh, log_softmax.
    "mlp": (lambda: nn.Sequential(nn.Linear(20, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 8), nn.Tanh(),
                                  nn.Linear(8, 5), nn.LogSoftmax(dim=1)),
            [20],
            [{"type": "linear", "name": "0", "out_features": 16}, {"type": "batchnorm", "name": "1"},
             {"type": "relu"}, {"type": "linear", "name": "3"}, {"type": "tanh"},
             {"type": "linear", "name": "5", "out_features": 5}, {"type": "log_softmax"}]),
    # An image flattened straight from the input (C,H,W order in torch, H,W,C in keras).
    "image_mlp": (lambda: nn.Sequential(nn.Flatten(), nn.Linear(40, 6), nn.GELU(), nn.Linear(6, 3)),
                  [2, 4, 5],
                  [{"type": "flatten"}, {"type": "linear", "name": "1"}, {"type": "gelu"},
                   {"type": "linear", "name": "3"}]),
    # conv with padding, folded bn, maxpool; grouped strided conv without bias; leaky relu;
    # avgpool counting padding; flatten; linear; softmax.
    "cnn_a": (lambda: nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                                    nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=2, bias=False),
                                    nn.LeakyReLU(0.1), nn.AvgPool2d(2, padding=1), nn.Flatten(), nn.Linear(64, 10),
                                    nn.Softmax(dim=1)),
              [3, 12, 12],
              [{"type": "conv2d", "name": "0", "out_channels": 8, "kernel_size": 3, "padding": 1},
               {"type": "batchnorm", "name": "1", "eps": 1e-5}, {"type": "relu"},
               {"type": "maxpool2d", "kernel_size": 2},
               {"type": "conv2d", "name": "4", "out_channels": 16, "kernel_size": 3, "stride": 2, "padding": 1,
                "groups": 2, "bias": False},
               {"type": "leaky_relu", "negative_slope": 0.1}, {"type": "avgpool2d", "kernel_size": 2, "padding": 1},
               {"type": "flatten"}, {"type": "linear", "name": "8", "out_features": 10}, {"type": "softmax"}]),
    # dilated rectangular conv with "same" padding, sigmoid, standalone batchnorm (after an
    # activation, so not folded), gelu, 1x1 conv, global average pooling, dropout.
    "cnn_b": (lambda: nn.Sequential(nn.Conv2d(4, 6, (3, 2), dilation=2, padding="same"), nn.Sigmoid(),
                                    nn.BatchNorm2d(6), nn.GELU(), nn.Conv2d(6, 6, 1), nn.Tanh(),
                                    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.5), nn.Linear(6, 4)),
              [4, 9, 9],
              [{"type": "conv2d", "name": "0", "kernel_size": [3, 2], "dilation": 2, "padding": "same"},
               {"type": "sigmoid"}, {"type": "batchnorm", "name": "2"}, {"type": "gelu"},
               {"type": "conv2d", "name": "4"}, {"type": "tanh"}, {"type": "global_avgpool2d"},
               {"type": "flatten"}, {"type": "dropout"}, {"type": "linear", "name": "9"}]),
}


def keras_weights(model, spec_layers, input_shape):
    """The model's weights as Keras stores them: (name, array) in get_weights() order."""
    out = []
    state = model.state_dict()
    flattened = None  # the (C, H, W) a flatten just turned into features, for the next linear only
    for layer in spec_layers:
        t, n = layer["type"], layer.get("name")
        if t == "flatten":
            flattened = flat_from
        if t == "conv2d":
            k = state[f"{n}.weight"].numpy()
            out.append((f"{n}/kernel", k.transpose(2, 3, 1, 0)))  # OIHW -> HWIO
            if f"{n}.bias" in state:
                out.append((f"{n}/bias", state[f"{n}.bias"].numpy()))
        elif t == "linear":
            wt = state[f"{n}.weight"].numpy()  # (out, in), in ordered C,H,W after a flatten
            if flattened is not None:
                fc, fh, fw = flattened
                wt = wt.reshape(-1, fc, fh, fw).transpose(0, 2, 3, 1).reshape(wt.shape[0], -1)  # to H,W,C order
                flattened = None
            out.append((f"{n}/kernel", wt.T))
            out.append((f"{n}/bias", state[f"{n}.bias"].numpy()))
        elif t == "batchnorm":
            for torch_role, keras_role in [("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
                                           ("running_var", "moving_variance")]:
                out.append((f"{n}/{keras_role}", state[f"{n}.{torch_role}"].numpy()))
    return out


flat_from = None


def main():
    global flat_from
    os.makedirs(HERE, exist_ok=True)
    manifest = []
    for name, (make, input_shape, layers) in MODELS.items():
        model = make()
        randomize_batchnorm(model)
        model.eval()
        x = torch.randn(37, *input_shape)
        with torch.no_grad():
            y = model(x).numpy()
        spec = {"layout": "torch", "input": {"shape": input_shape}, "preprocess": [], "layers": layers}
        json.dump(spec, open(os.path.join(HERE, f"{name}.spec.json"), "w"), indent=1)
        np.savez(os.path.join(HERE, f"{name}.npz"), **{k: v.numpy() for k, v in model.state_dict().items()})
        np.save(os.path.join(HERE, f"{name}.input.npy"), x.numpy())
        np.save(os.path.join(HERE, f"{name}.expected.npy"), y)
        manifest.append({"name": name, "spec": f"{name}.spec.json", "weights": f"{name}.npz",
                         "input": f"{name}.input.npy", "expected": f"{name}.expected.npy"})

        # Keras layout: the same network as Keras would hold it, channels last.
        flat_from = None
        if len(input_shape) == 3:
            # the shape reaching the flatten, from a forward hook on the torch model
            seen = {}

            def record(module, inputs, output):
                seen["shape"] = tuple(inputs[0].shape[1:])  # returns None: the output stays as it is

            hooks = [m.register_forward_hook(record) for m in model if isinstance(m, nn.Flatten)]
            with torch.no_grad():
                model(x[:1])
            for hook in hooks:
                hook.remove()
            flat_from = seen.get("shape")
        kw = keras_weights(model, layers, input_shape)
        # Every size spelled out, as a flat weight vector needs them.
        modules = {str(i): m for i, m in enumerate(model)}
        keras_layers = []
        for layer in layers:
            layer = dict(layer)
            module = modules.get(layer.get("name", ""))
            if isinstance(module, nn.Linear):
                layer["out_features"] = module.out_features
            if isinstance(module, nn.Conv2d):
                layer["out_channels"] = module.out_channels
                layer["kernel_size"] = list(module.kernel_size)
            if layer["type"] == "batchnorm":
                layer["eps"] = 1e-5  # PyTorch's; Keras's default would be 1e-3
            if layer["type"] == "leaky_relu":
                layer.setdefault("negative_slope", 0.01)
            if layer["type"] == "avgpool2d":
                layer["count_include_pad"] = True  # PyTorch's; Keras's pools exclude padding
            keras_layers.append(layer)
        k_shape = input_shape if len(input_shape) == 1 else [input_shape[1], input_shape[2], input_shape[0]]
        k_spec = {"layout": "keras", "input": {"shape": k_shape}, "preprocess": [], "layers": keras_layers}
        json.dump(k_spec, open(os.path.join(HERE, f"{name}.keras.spec.json"), "w"), indent=1)
        # Names with and without TF's ":0" suffix, both accepted.
        np.savez(os.path.join(HERE, f"{name}.keras.npz"),
                 **{(k + ":0" if i % 2 else k): v for i, (k, v) in enumerate(kw)})
        np.savez(os.path.join(HERE, f"{name}.keras_positional.npz"), *[v for _, v in kw])
        np.save(os.path.join(HERE, f"{name}.keras_flat.npy"),
                np.concatenate([v.ravel() for _, v in kw]).astype(np.float32))
        xk = x.numpy() if len(input_shape) == 1 else x.numpy().transpose(0, 2, 3, 1)
        np.save(os.path.join(HERE, f"{name}.keras.input.npy"), np.ascontiguousarray(xk))
        manifest.append({"name": f"{name} (keras layout)", "spec": f"{name}.keras.spec.json",
                         "weights": f"{name}.keras.npz", "input": f"{name}.keras.input.npy",
                         "expected": f"{name}.expected.npy",
                         "also_weights": [f"{name}.keras_positional.npz", f"{name}.keras_flat.npy"]})
    json.dump({"torch": torch.__version__, "models": manifest}, open(os.path.join(HERE, "manifest.json"), "w"),
              indent=1)
    print(f"wrote {len(manifest)} fixtures to {HERE}")


if __name__ == "__main__":
    main()
