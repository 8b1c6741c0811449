#!/usr/bin/python3
"""Reference fixtures for graph-shaped and sequence networks (named "inputs", add/multiply/concat,
conv1d and 1-D pooling, embedding, layernorm, LSTM, GRU, transformer encoder layers), made with PyTorch (python3-torch).
Written to tests/nn/fixtures/graph/ with a manifest.json in the format of fixtures/manifest.json
(paths relative to graph/); rerun to regenerate (deterministic for a given torch):

    /usr/bin/python3 tests/nn/make_graph_fixtures.py

For each model: <name>.spec.json (layout torch), <name>.npz (its state_dict), <name>.input.npy,
<name>.expected.npy (PyTorch's output in eval mode, float32). Where the Keras form of the network
is well defined, a keras-layout variant holds the same weights as Keras stores them:
<name>.keras.spec.json, <name>.keras.npz (Keras names, every other one with TF's ":0" suffix),
<name>.keras_positional.npz (np.savez(*get_weights()), in spec layer order) and
<name>.keras_flat.npy (one 1-D vector of every weight; the specs give every size), with a
channels-last input (<name>.keras.input.npy) for image and 1-D-conv models; sequence models read
the same input file in both layouts. The expected output is the torch one in both layouts.

What each model exercises:

- resblock, input (3, 8, 8): a ResNet basic block with a downsample branch: conv3x3 stride 2 pad 1
  without bias -> bn -> relu -> conv3x3 -> bn, and a shortcut conv1x1 stride 2 -> bn reading the
  model's "input" (a layer not fed by its predecessor), "add" of the two branches, relu; then an
  identity block whose "add" reads a named relu two blocks back (the skip connection); every bn
  has randomized statistics and follows a conv whose output feeds only it (foldable), although the
  bn outputs themselves are referenced by name; global_avgpool2d giving a flat (C) vector straight
  into a linear (no flatten). Keras: HWIO kernels, gamma/beta/moving_*, channels-last (H,W,C).
- inception, input (3, 6, 6): two branches from "input" (conv1x1 relu, conv3x3 pad 1 relu), each
  ending in a named relu, "concat" over channels ("dim": 0 torch, "dim": 2 on keras (H,W,C)),
  maxpool2d, flatten, linear, softmax. Keras: flatten in H,W,C order, so the linear's input
  columns are permuted from the torch C,H,W order.
- conv1d_net, input (4, 20) torch / (20, 4) keras: conv1d with int padding, relu, maxpool1d,
  dilated conv1d with "same" padding, avgpool1d, global_avgpool1d (flat (C)), linear. Keras:
  conv1d kernel (k, in/groups, out).
- lstm_classifier, input (12) ids stored as float32: embedding (50, 8) -> 2-layer LSTM
  (return_sequences false: the last time step of the top layer) -> linear. Sample 0 holds ids 0
  and 49, the ends of the table. Keras: "<name>/embeddings", and the two torch layers as two
  stacked keras lstm layers (first return_sequences true), kernel = weight_ih.T,
  recurrent_kernel = weight_hh.T, bias = bias_ih + bias_hh (gate order i,f,g,o in both).
- bilstm_seq, input (10, 6): bidirectional 1-layer LSTM with return_sequences true ((T, 2H), the
  forward then the reverse direction's features, "_reverse" arrays), layernorm over the last
  axis (randomized weight and bias), linear per time step: output (10, 3) per sample. Keras:
  Bidirectional(LSTM) named "bidirectional", its arrays in the forward_lstm and backward_lstm
  scopes with the cell's ("bidirectional/forward_lstm/lstm_cell/kernel"), layernorm gamma/beta.
- gru_classifier, input (9, 4): bidirectional 2-layer GRU (layer 1 reads both directions of
  layer 0), return_sequences false = output[:, -1, :] (the forward direction's output at the
  last step next to the reverse direction's output at that step, its first, having seen only
  x[T-1]), linear, log_softmax. Torch only.
- gru_keras, input (9, 4): a unidirectional 1-layer GRU (defaults for num_layers and
  bidirectional), return_sequences false, linear; in both layouts. Keras (reset_after, the
  default): gates reordered from torch's r,z,n to keras's z,r,h in kernel, recurrent_kernel and
  the (2, 3H) bias (row 0 = bias_ih, row 1 = bias_hh).
- gated_seq, input (7, 5): a gated unit over (T, F) samples: linear "a" and linear "b" (reading
  "input") act on the last axis per time step, sigmoid "gate" of "a", tanh "cand" of "b",
  "multiply" of the two, leaky_relu 0.2, "concat" with the model input on the feature axis
  ("dim": 1 torch; the keras variant says "dim": -1, counted from the end) -> (7, 11), linear
  -> (7, 2) per sample. Keras: dense kernels (in, out).
- bigru_keras, input (9, 4): Keras's Bidirectional(GRU(6)) (reset_after) with return_sequences
  false, then linear. Keras's last output differs from PyTorch's output[:, -1, :]: the forward
  direction at step T-1 next to the backward direction at step 0 (its last, having read the
  whole sequence), which the torch model computes as cat(out[:, -1, :6], out[:, 0, 6:]). Keras
  layout only (the torch layout's return_sequences false is output[:, -1, :], gru_classifier).
- transformer, input (6, 16): two nn.TransformerEncoderLayer (batch_first, 4 heads): post-norm
  with relu and dim_feedforward 32, then pre-norm (norm_first) with gelu, dim_feedforward 24 (given
  by the weights) and layer_norm_eps 1e-6; linear per time step -> (6, 3). Torch only.
"""
import json
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_torch_fixtures import randomize_batchnorm  # noqa: E402

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "graph")
N = 17  # samples per fixture: few, and not a multiple of any batch size
torch.manual_seed(2026)


def randomize_norms(model):
    """Batchnorm statistics as make_torch_fixtures.py randomizes them, and layernorms' affine."""
    randomize_batchnorm(model)
    for m in model.modules():
        if isinstance(m, nn.LayerNorm):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)


# --- the models, with attribute names equal to the spec's layer names ---------------------------

class ResBlockNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.b1_conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        self.b1_bn1 = nn.BatchNorm2d(8)
        self.b1_conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.b1_bn2 = nn.BatchNorm2d(8)
        self.b1_down_conv = nn.Conv2d(3, 8, 1, stride=2, bias=False)
        self.b1_down_bn = nn.BatchNorm2d(8)
        self.b2_conv1 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.b2_bn1 = nn.BatchNorm2d(8)
        self.b2_conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.b2_bn2 = nn.BatchNorm2d(8)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        y = self.b1_bn2(self.b1_conv2(torch.relu(self.b1_bn1(self.b1_conv1(x)))))
        b1_out = torch.relu(y + self.b1_down_bn(self.b1_down_conv(x)))
        y = self.b2_bn2(self.b2_conv2(torch.relu(self.b2_bn1(self.b2_conv1(b1_out)))))
        return self.fc(self.pool(torch.relu(y + b1_out)))


RESBLOCK_LAYERS = [
    {"type": "conv2d", "name": "b1_conv1", "out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1,
     "bias": False},
    {"type": "batchnorm", "name": "b1_bn1", "eps": 1e-5},
    {"type": "relu"},
    {"type": "conv2d", "name": "b1_conv2", "out_channels": 8, "kernel_size": 3, "padding": 1, "bias": False},
    {"type": "batchnorm", "name": "b1_bn2", "eps": 1e-5},
    {"type": "conv2d", "name": "b1_down_conv", "inputs": ["input"], "out_channels": 8, "kernel_size": 1,
     "stride": 2, "bias": False},
    {"type": "batchnorm", "name": "b1_down_bn", "eps": 1e-5},
    {"type": "add", "inputs": ["b1_bn2", "b1_down_bn"]},
    {"type": "relu", "name": "b1_out"},
    {"type": "conv2d", "name": "b2_conv1", "out_channels": 8, "kernel_size": 3, "padding": 1, "bias": False},
    {"type": "batchnorm", "name": "b2_bn1", "eps": 1e-5},
    {"type": "relu"},
    {"type": "conv2d", "name": "b2_conv2", "out_channels": 8, "kernel_size": 3, "padding": 1, "bias": False},
    {"type": "batchnorm", "name": "b2_bn2", "eps": 1e-5},
    {"type": "add", "inputs": ["b2_bn2", "b1_out"]},
    {"type": "relu"},
    {"type": "global_avgpool2d"},
    {"type": "linear", "name": "fc", "out_features": 5},
]


class InceptionNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.br1 = nn.Conv2d(3, 4, 1)
        self.br2 = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(72, 4)

    def forward(self, x):
        y = torch.cat([torch.relu(self.br1(x)), torch.relu(self.br2(x))], dim=1)
        return torch.softmax(self.fc(self.flatten(self.pool(y))), dim=1)


INCEPTION_LAYERS = [
    {"type": "conv2d", "name": "br1", "out_channels": 4, "kernel_size": 1},
    {"type": "relu", "name": "br1_relu"},
    {"type": "conv2d", "name": "br2", "inputs": ["input"], "out_channels": 4, "kernel_size": 3, "padding": 1},
    {"type": "relu", "name": "br2_relu"},
    {"type": "concat", "inputs": ["br1_relu", "br2_relu"], "dim": 0},
    {"type": "maxpool2d", "kernel_size": 2},
    {"type": "flatten"},
    {"type": "linear", "name": "fc", "out_features": 4},
    {"type": "softmax"},
]


class Conv1dNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(4, 6, 3, padding=1)
        self.c2 = nn.Conv1d(6, 6, 3, dilation=2, padding="same")
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        y = nn.functional.max_pool1d(torch.relu(self.c1(x)), 2)
        y = nn.functional.avg_pool1d(self.c2(y), 2)
        return self.fc(y.mean(dim=2))  # AdaptiveAvgPool1d(1) + Flatten


CONV1D_LAYERS = [
    {"type": "conv1d", "name": "c1", "out_channels": 6, "kernel_size": 3, "padding": 1},
    {"type": "relu"},
    {"type": "maxpool1d", "kernel_size": 2},
    {"type": "conv1d", "name": "c2", "out_channels": 6, "kernel_size": 3, "dilation": 2, "padding": "same"},
    {"type": "avgpool1d", "kernel_size": 2},
    {"type": "global_avgpool1d"},
    {"type": "linear", "name": "fc", "out_features": 3},
]


class LSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 8)
        self.lstm = nn.LSTM(8, 16, num_layers=2, batch_first=True)
        self.fc = nn.Linear(16, 4)

    def forward(self, ids):
        out, _ = self.lstm(self.emb(ids.long()))
        return self.fc(out[:, -1, :])


LSTM_CLASSIFIER_LAYERS = [
    {"type": "embedding", "name": "emb", "num_embeddings": 50, "embedding_dim": 8},
    {"type": "lstm", "name": "lstm", "input_size": 8, "hidden_size": 16, "num_layers": 2,
     "bidirectional": False, "return_sequences": False},
    {"type": "linear", "name": "fc", "out_features": 4},
]
# Keras has one layer per torch layer: stacked, the first giving its whole sequence.
LSTM_CLASSIFIER_KERAS_LAYERS = [
    {"type": "embedding", "name": "emb", "num_embeddings": 50, "embedding_dim": 8},
    {"type": "lstm", "name": "lstm_0", "input_size": 8, "hidden_size": 16, "return_sequences": True},
    {"type": "lstm", "name": "lstm_1", "input_size": 16, "hidden_size": 16, "return_sequences": False},
    {"type": "linear", "name": "fc", "out_features": 4},
]


class BiLSTMSeq(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(6, 5, num_layers=1, bidirectional=True, batch_first=True)
        self.ln = nn.LayerNorm(10)
        self.fc = nn.Linear(10, 3)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(self.ln(out))


BILSTM_LAYERS = [
    {"type": "lstm", "name": "lstm", "input_size": 6, "hidden_size": 5, "num_layers": 1, "bidirectional": True,
     "return_sequences": True},
    {"type": "layernorm", "name": "ln", "normalized_shape": 10, "eps": 1e-5},
    {"type": "linear", "name": "fc", "out_features": 3},
]


class GRUClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 6, num_layers=2, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(12, 3)

    def forward(self, x):
        out, _ = self.gru(x)
        return torch.log_softmax(self.fc(out[:, -1, :]), dim=1)


BILSTM_KERAS_LAYERS = [
    {"type": "lstm", "name": "bidirectional", "input_size": 6, "hidden_size": 5, "bidirectional": True,
     "return_sequences": True},
    {"type": "layernorm", "name": "ln", "normalized_shape": 10, "eps": 1e-5},
    {"type": "linear", "name": "fc", "out_features": 3},
]


class BiGRUKeras(nn.Module):
    """Keras's Bidirectional(GRU(6), return_sequences=False): forward at T-1, backward at 0."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 6, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(12, 3)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.fc(torch.cat([out[:, -1, :6], out[:, 0, 6:]], dim=1))


BIGRU_KERAS_LAYERS = [
    {"type": "gru", "name": "bidirectional", "input_size": 4, "hidden_size": 6, "bidirectional": True,
     "return_sequences": False},
    {"type": "linear", "name": "fc", "out_features": 3},
]


GRU_CLASSIFIER_LAYERS = [
    {"type": "gru", "name": "gru", "input_size": 4, "hidden_size": 6, "num_layers": 2, "bidirectional": True,
     "return_sequences": False},
    {"type": "linear", "name": "fc", "out_features": 3},
    {"type": "log_softmax"},
]


class GRUKeras(nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 6, batch_first=True)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.fc(out[:, -1, :])


GRU_KERAS_LAYERS = [
    {"type": "gru", "name": "gru", "input_size": 4, "hidden_size": 6, "return_sequences": False},
    {"type": "linear", "name": "fc", "out_features": 3},
]


class GatedSeq(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(5, 6)
        self.b = nn.Linear(5, 6)
        self.out = nn.Linear(11, 2)

    def forward(self, x):
        y = torch.sigmoid(self.a(x)) * torch.tanh(self.b(x))
        y = nn.functional.leaky_relu(y, 0.2)
        return self.out(torch.cat([y, x], dim=2))  # dim 1 of a (T, F) sample


GATED_LAYERS = [
    {"type": "linear", "name": "a", "out_features": 6},
    {"type": "linear", "name": "b", "inputs": ["input"], "out_features": 6},
    {"type": "sigmoid", "name": "gate", "inputs": ["a"]},
    {"type": "tanh", "name": "cand", "inputs": ["b"]},
    {"type": "multiply", "inputs": ["gate", "cand"]},
    {"type": "leaky_relu", "name": "act", "negative_slope": 0.2},
    {"type": "concat", "inputs": ["act", "input"], "dim": 1},
    {"type": "linear", "name": "out", "out_features": 2},
]
GATED_KERAS_LAYERS = [dict(layer, dim=-1) if layer["type"] == "concat" else layer for layer in GATED_LAYERS]


class TransformerNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True)
        self.enc2 = nn.TransformerEncoderLayer(16, 4, 24, dropout=0.0, activation="gelu", norm_first=True,
                                               layer_norm_eps=1e-6, batch_first=True)
        self.fc = nn.Linear(16, 3)

    def forward(self, x):
        return self.fc(self.enc2(self.enc1(x)))


TRANSFORMER_LAYERS = [
    {"type": "transformer_encoder", "name": "enc1", "d_model": 16, "nhead": 4, "dim_feedforward": 32},
    {"type": "transformer_encoder", "name": "enc2", "nhead": 4, "norm_first": True, "activation": "gelu",
     "layer_norm_eps": 1e-6},
    {"type": "linear", "name": "fc"},
]


def float_input(shape):
    return lambda: torch.randn(N, *shape)


def ids_input(t, num):
    def make():
        ids = torch.randint(0, num, (N, t))
        ids[0, 0], ids[0, 1] = 0, num - 1  # both ends of the table
        return ids.float()
    return make


def keras_conv_dims(layers, dim_map):
    return [dict(layer, dim=dim_map[layer["dim"]]) if layer["type"] == "concat" else layer for layer in layers]


# name: (model, input shape (torch), make input, torch layers, keras layers or None, keras input shape,
#        torch->keras sample transpose or None, {keras layer name: (torch name, torch layer index)})
MODELS = {
    "resblock": (ResBlockNet, [3, 8, 8], float_input([3, 8, 8]), RESBLOCK_LAYERS, RESBLOCK_LAYERS,
                 [8, 8, 3], (1, 2, 0), {}),
    "inception": (InceptionNet, [3, 6, 6], float_input([3, 6, 6]), INCEPTION_LAYERS,
                  keras_conv_dims(INCEPTION_LAYERS, {0: 2}), [6, 6, 3], (1, 2, 0), {}),
    "conv1d_net": (Conv1dNet, [4, 20], float_input([4, 20]), CONV1D_LAYERS, CONV1D_LAYERS, [20, 4], (1, 0), {}),
    "lstm_classifier": (LSTMClassifier, [12], ids_input(12, 50), LSTM_CLASSIFIER_LAYERS,
                        LSTM_CLASSIFIER_KERAS_LAYERS, [12], None, {"lstm_0": ("lstm", 0), "lstm_1": ("lstm", 1)}),
    "bilstm_seq": (BiLSTMSeq, [10, 6], float_input([10, 6]), BILSTM_LAYERS, BILSTM_KERAS_LAYERS, [10, 6], None,
                   {"bidirectional": ("lstm", 0)}),
    "gru_classifier": (GRUClassifier, [9, 4], float_input([9, 4]), GRU_CLASSIFIER_LAYERS, None, None, None, {}),
    "gru_keras": (GRUKeras, [9, 4], float_input([9, 4]), GRU_KERAS_LAYERS, GRU_KERAS_LAYERS, [9, 4], None, {}),
    "gated_seq": (GatedSeq, [7, 5], float_input([7, 5]), GATED_LAYERS, GATED_KERAS_LAYERS, [7, 5], None, {}),
    "transformer": (TransformerNet, [6, 16], float_input([6, 16]), TRANSFORMER_LAYERS, None, None, None, {}),
    # Keras only (no torch layers): appended last, so the fixtures above keep their random draws.
    "bigru_keras": (BiGRUKeras, [9, 4], float_input([9, 4]), None, BIGRU_KERAS_LAYERS, [9, 4], None,
                    {"bidirectional": ("gru", 0)}),
}

WEIGHTED = {"linear", "conv1d", "conv2d", "batchnorm", "embedding", "layernorm", "lstm", "gru", "transformer_encoder"}


def check_spec(layers):
    """The graph rules: unique names, "inputs" naming earlier named layers, every output used."""
    names, used, prev = ["input"], set(), "input"
    for i, layer in enumerate(layers):
        assert layer["type"] not in WEIGHTED or "name" in layer, f"layer {i} has weights but no name"
        for s in layer.get("inputs", [prev]):
            assert s in names, f"layer {i} reads {s!r}, not an earlier named layer"
            used.add(s)
        prev = layer.get("name", f"#{i}")
        assert prev not in names, f"name {prev!r} twice"
        names.append(prev)
    unused = [n for n in names[:-1] if n not in used]
    assert not unused, f"outputs never used: {unused}"


def gru_to_keras(a, h):
    """torch blocks r,z,n along axis 0 -> keras z,r,h."""
    return np.concatenate([a[h:2 * h], a[:h], a[2 * h:]], axis=0)


def keras_weights(model, layers, flat_from, src_map):
    """The model's weights as Keras stores them: (name, array) in spec layer order."""
    out = []
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    flattened = None
    for layer in layers:
        t, n = layer["type"], layer.get("name")
        if t == "flatten":
            flattened = flat_from
        src, k = src_map.get(n, (n, 0))
        if t == "conv2d":
            out.append((f"{n}/kernel", state[f"{src}.weight"].transpose(2, 3, 1, 0)))  # OIHW -> HWIO
        elif t == "conv1d":
            out.append((f"{n}/kernel", state[f"{src}.weight"].transpose(2, 1, 0)))  # (O, I/g, k) -> (k, I/g, O)
        elif t == "linear":
            wt = state[f"{src}.weight"]  # (out, in); after a flatten, in is ordered C,H,W
            if flattened is not None:
                fc, fh, fw = flattened
                wt = wt.reshape(-1, fc, fh, fw).transpose(0, 2, 3, 1).reshape(wt.shape[0], -1)  # to H,W,C order
                flattened = None
            out.append((f"{n}/kernel", wt.T))
        elif t == "batchnorm":
            for torch_role, keras_role in [("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
                                           ("running_var", "moving_variance")]:
                out.append((f"{n}/{keras_role}", state[f"{src}.{torch_role}"]))
        elif t == "embedding":
            out.append((f"{n}/embeddings", state[f"{src}.weight"]))
        elif t in ("lstm", "gru"):
            # A Bidirectional layer's directions in their scopes, forward first (as get_weights
            # lists them), each in its cell's scope as Keras 2 names them.
            directions = [("forward", ""), ("backward", "_reverse")] if layer.get("bidirectional") else [(None, "")]
            for direction, suffix in directions:
                scope = f"{n}/{direction}_{t}/{t}_cell" if direction else n
                w_ih, w_hh = state[f"{src}.weight_ih_l{k}{suffix}"], state[f"{src}.weight_hh_l{k}{suffix}"]
                b_ih, b_hh = state[f"{src}.bias_ih_l{k}{suffix}"], state[f"{src}.bias_hh_l{k}{suffix}"]
                if t == "lstm":  # gate blocks i,f,g,o in torch = i,f,c,o in keras
                    out += [(f"{scope}/kernel", w_ih.T), (f"{scope}/recurrent_kernel", w_hh.T),
                            (f"{scope}/bias", b_ih + b_hh)]
                else:  # reset_after=True: bias rows input, recurrent
                    h = layer["hidden_size"]
                    out += [(f"{scope}/kernel", gru_to_keras(w_ih, h).T),
                            (f"{scope}/recurrent_kernel", gru_to_keras(w_hh, h).T),
                            (f"{scope}/bias", np.stack([gru_to_keras(b_ih, h), gru_to_keras(b_hh, h)]))]
        elif t == "layernorm":
            out += [(f"{n}/gamma", state[f"{src}.weight"]), (f"{n}/beta", state[f"{src}.bias"])]
        else:
            assert t not in WEIGHTED, t
            continue
        if t in ("conv1d", "conv2d", "linear") and layer.get("bias", True):
            out.append((f"{n}/bias", state[f"{src}.bias"]))
    return [(k, np.ascontiguousarray(v, dtype=np.float32)) for k, v in out]


def flatten_input_shape(model, x):
    """The per-sample shape reaching the model's nn.Flatten, if it has one (from a forward hook)."""
    seen = {}

    def record(module, inputs, output):
        seen["shape"] = tuple(inputs[0].shape[1:])  # returns None: the output stays as it is

    hooks = [m.register_forward_hook(record) for m in model.modules() if isinstance(m, nn.Flatten)]
    with torch.no_grad():
        model(x[:1])
    for hook in hooks:
        hook.remove()
    return seen.get("shape")


def main():
    os.makedirs(HERE, exist_ok=True)
    for f in os.listdir(HERE):  # no stale fixtures from an earlier run
        os.remove(os.path.join(HERE, f))
    manifest = []

    def write_json(obj, fname):
        with open(os.path.join(HERE, fname), "w") as f:
            json.dump(obj, f, indent=1)

    for name, (make, input_shape, make_input, layers, k_layers, k_shape, k_perm, src_map) in MODELS.items():
        model = make()
        randomize_norms(model)
        model.eval()
        x = make_input()
        with torch.no_grad():
            y = model(x).numpy().astype(np.float32)
        assert np.isfinite(y).all()
        np.save(os.path.join(HERE, f"{name}.input.npy"), x.numpy().astype(np.float32))
        np.save(os.path.join(HERE, f"{name}.expected.npy"), y)
        if layers is not None:
            check_spec(layers)
            spec = {"layout": "torch", "input": {"shape": input_shape}, "preprocess": [], "layers": layers}
            write_json(spec, f"{name}.spec.json")
            np.savez(os.path.join(HERE, f"{name}.npz"), **{k: v.numpy() for k, v in model.state_dict().items()})
            manifest.append({"name": name, "spec": f"{name}.spec.json", "weights": f"{name}.npz",
                             "input": f"{name}.input.npy", "expected": f"{name}.expected.npy"})
        if k_layers is None:
            continue

        # Keras layout: the same network as Keras would hold it, channels last.
        check_spec(k_layers)
        kw = keras_weights(model, k_layers, flatten_input_shape(model, x), src_map)
        k_spec = {"layout": "keras", "input": {"shape": k_shape}, "preprocess": [], "layers": k_layers}
        write_json(k_spec, f"{name}.keras.spec.json")
        np.savez(os.path.join(HERE, f"{name}.keras.npz"),
                 **{(k + ":0" if i % 2 else k): v for i, (k, v) in enumerate(kw)})
        np.savez(os.path.join(HERE, f"{name}.keras_positional.npz"), *[v for _, v in kw])
        np.save(os.path.join(HERE, f"{name}.keras_flat.npy"),
                np.concatenate([v.ravel() for _, v in kw]).astype(np.float32))
        k_input = f"{name}.input.npy"
        if k_perm is not None:
            k_input = f"{name}.keras.input.npy"
            xk = x.numpy().transpose(0, *(p + 1 for p in k_perm))
            np.save(os.path.join(HERE, k_input), np.ascontiguousarray(xk, dtype=np.float32))
        manifest.append({"name": f"{name} (keras layout)", "spec": f"{name}.keras.spec.json",
                         "weights": f"{name}.keras.npz", "input": k_input, "expected": f"{name}.expected.npy",
                         "also_weights": [f"{name}.keras_positional.npz", f"{name}.keras_flat.npy"]})
    write_json({"torch": torch.__version__, "models": manifest}, "manifest.json")
    total = sum(os.path.getsize(os.path.join(HERE, f)) for f in os.listdir(HERE))
    print(f"wrote {len(manifest)} fixtures to {HERE} ({total} bytes)")


if __name__ == "__main__":
    main()
