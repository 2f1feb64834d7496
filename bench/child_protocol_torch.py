# PyTorch reference of the evaluation protocol (src/runtime/child/protocol.ts): same data split, normalization,
# network, initialization scheme, sweep and divergence rule.  Usage: child_protocol_torch.py PROTOCOL_JSON RULE [SEED]
# where RULE is adam, sgd, powersign, or export:FILE:CLASS (an optimizer written by nos export --to pytorch).
# The protocol's "data" is an IDX folder (Fashion-MNIST by default) or an .npz of grayscale x_train (N, H, W) in bytes
# and y_train class indices: images of any size, which MaxPool2d(2) floors as nos does.  Prints one JSON object.
import gzip
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    ndims = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndims)]
    return torch.frombuffer(bytearray(data[4 + 4 * ndims:]), dtype=torch.uint8).reshape(dims)


def find(folder, name):
    for candidate in (name, name + ".gz"):
        p = os.path.join(folder, candidate)
        if os.path.exists(p):
            return p
    raise SystemExit(f"{folder}: no {name}(.gz)")


def read_npz(path):
    import numpy as np
    with np.load(path) as archive:
        images, labels = archive["x_train"], archive["y_train"]
    if images.ndim != 3 or images.dtype != np.uint8:
        raise SystemExit(f"{path}: x_train must be grayscale bytes (N, H, W), got {images.dtype} {images.shape}")
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def load(folder, train_n, val_n):
    if folder.endswith(".npz"):
        images, labels = read_npz(folder)
    else:
        images = read_idx(find(folder, "train-images-idx3-ubyte"))
        labels = read_idx(find(folder, "train-labels-idx1-ubyte")).long()
    images = images.float().div(255).unsqueeze(1)
    train_x, train_y = images[:train_n], labels[:train_n]
    val_x, val_y = images[-val_n:], labels[-val_n:]
    mean, std = train_x.mean().item(), train_x.std(unbiased=False).item()
    return (train_x - mean) / std, train_y, (val_x - mean) / std, val_y


class ConvNet(nn.Module):
    def __init__(self, height, width, filters=32):
        super().__init__()
        self.conv1 = nn.Conv2d(1, filters, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(filters)
        self.conv2 = nn.Conv2d(filters, filters, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(filters)
        self.fc = nn.Linear(filters * (height // 2 // 2) * (width // 2 // 2), 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return self.fc(torch.flatten(x, 1))


class Mlp(nn.Module):
    def __init__(self, height, width, hidden=100):
        super().__init__()
        self.fc1 = nn.Linear(height * width, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


class PowerSign(torch.optim.Optimizer):
    """exp(sign(g) * sign(m)) * g, m the running average of g updated with this g (beta1 0.9)."""

    def __init__(self, params, lr, beta1=0.9):
        super().__init__(params, dict(lr=lr, beta1=beta1))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                if "m" not in state:
                    state["m"] = torch.zeros_like(p)
                m = state["m"]
                m.mul_(group["beta1"]).add_(p.grad, alpha=1 - group["beta1"])
                p.sub_(group["lr"] * torch.exp(torch.sign(p.grad) * torch.sign(m)) * p.grad)


def load_exported(spec):
    """export:FILE:CLASS, an optimizer file written by nos export --to pytorch, and its class."""
    import importlib.util
    _, path, cls = spec.split(":", 2)
    module_spec = importlib.util.spec_from_file_location("nos_exported_optimizer", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return getattr(module, cls)


def make_optimizer(rule, params, lr):
    if rule.startswith("export:"):
        return load_exported(rule)(params, lr=lr)
    if rule == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8)
    if rule == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if rule == "powersign":
        return PowerSign(params, lr)
    raise SystemExit(f"unknown rule {rule}: expected adam, sgd, powersign or export:FILE:CLASS")


def train(protocol, rule, lr, epochs, data, seed):
    torch.manual_seed(seed)
    height, width = data[0].shape[2:]
    model = ConvNet(height, width) if protocol["model"] == "convnet" else Mlp(height, width)
    opt = make_optimizer(rule, model.parameters(), lr)
    train_x, train_y, _, _ = data
    batch = protocol["batchSize"]
    batches = train_x.shape[0] // batch
    generator = torch.Generator().manual_seed(seed + 1)
    first = None
    model.train()
    for _ in range(epochs):
        order = torch.randperm(train_x.shape[0], generator=generator)
        for b in range(batches):
            idx = order[b * batch:(b + 1) * batch]
            loss = F.cross_entropy(model(train_x[idx]), train_y[idx])
            value = loss.item()
            first = value if first is None else first
            if not math.isfinite(value) or value > 1e3 * first:
                return None
            opt.zero_grad()
            loss.backward()
            opt.step()
    if any(not torch.isfinite(p).all() for p in model.parameters()):
        return None
    return model


@torch.no_grad()
def accuracy(model, data):
    _, _, val_x, val_y = data
    model.eval()
    correct = 0
    for s in range(0, val_x.shape[0], 1000):
        correct += (model(val_x[s:s + 1000]).argmax(1) == val_y[s:s + 1000]).sum().item()
    return correct / val_x.shape[0]


def main():
    protocol = json.loads(sys.argv[1])
    rule = sys.argv[2]
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    folder = protocol.get("data") or "/usr/share/datasets/fashion-mnist"
    torch.set_num_threads(protocol["threads"])
    started = time.time()
    data = load(folder, protocol["trainExamples"], protocol["validationExamples"])
    sweep, best_lr, best_acc = [], None, -1.0
    for lr in protocol["lrs"]:
        model = train(protocol, rule, lr, protocol["sweepEpochs"], data, seed)
        acc = 0.0 if model is None else accuracy(model, data)
        sweep.append({"lr": lr, "accuracy": acc, "status": "diverged" if model is None else "ok"})
        if model is not None and acc > best_acc:
            best_lr, best_acc = lr, acc
    reward, status = 0.0, "diverged"
    if best_lr is not None:
        model = train(protocol, rule, best_lr, protocol["finalEpochs"], data, seed)
        if model is not None:
            reward, status = accuracy(model, data), "ok"
    print(json.dumps({"rule": rule, "status": status, "reward": reward, "bestLr": best_lr, "sweep": sweep,
                      "seconds": time.time() - started}))


if __name__ == "__main__":
    main()
