# PyTorch's side of test/runtime/child/convnet-torch.test.ts: the paper's child as torch.nn modules, loaded with the
# given weights, one training-mode forward and backward on a batch; prints the loss, every gradient and the running
# statistics after the step, as JSON.  Input (stdin, JSON): shape [C, H, W], classes, filters, params {name: flat},
# images (flat, NCHW), labels.
import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


class Child(nn.Module):
    """conv3x3 (no bias) -> BN -> ReLU -> MaxPool2d(2), twice, then a dense layer, as src/runtime/child/models.ts."""

    def __init__(self, channels, height, width, classes, filters):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, filters, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(filters)
        self.conv2 = nn.Conv2d(filters, filters, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(filters)
        self.fc = nn.Linear(filters * (height // 2 // 2) * (width // 2 // 2), classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return self.fc(torch.flatten(x, 1))


def main():
    spec = json.load(sys.stdin)
    channels, height, width = spec["shape"]
    torch.set_num_threads(1)
    model = Child(channels, height, width, spec["classes"], spec["filters"]).train()
    named = dict(model.named_parameters())
    with torch.no_grad():
        for name, flat in spec["params"].items():
            named[name].copy_(torch.tensor(flat, dtype=torch.float32).reshape(named[name].shape))
    x = torch.tensor(spec["images"], dtype=torch.float32).reshape(-1, channels, height, width)
    y = torch.tensor(spec["labels"], dtype=torch.long)
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    out = {
        "loss": loss.item(),
        "grads": {name: p.grad.reshape(-1).tolist() for name, p in named.items()},
        "running": [b.reshape(-1).tolist() for b in (model.bn1.running_mean, model.bn1.running_var,
                                                    model.bn2.running_mean, model.bn2.running_var)],
    }
    json.dump(out, sys.stdout)


main()
