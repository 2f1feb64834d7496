# PyTorch peer of bench/transfer-speed.ts: trains the transfer tasks' networks (convnet-large's residual network,
# lm's character LSTM) with the same sizes, batch and threads, and prints one JSON object with the step times.
# Usage: transfer_speed_torch.py resnet|lm THREADS STEPS SHAPE_JSON
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    """relu(bn(conv3x3(relu(bn(conv3x3(x))))) + shortcut(x)); the shortcut a 1x1 conv where the width changes."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Conv2d(cin, cout, 1, bias=False) if cin != cout else None

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (self.shortcut(x) if self.shortcut is not None else x))


class ResNet(nn.Module):
    """As src/runtime/child/models.ts resNet: stem, blocks per stage, 2x2 max pool between stages, GAP, dense."""

    def __init__(self, channels, widths, blocks, classes=10):
        super().__init__()
        self.stem = nn.Conv2d(channels, widths[0], 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(widths[0])
        stages, cin = [], widths[0]
        for w in widths:
            stages.append(nn.Sequential(*[Block(cin if i == 0 else w, w) for i in range(blocks)]))
            cin = w
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        y = F.relu(self.bn(self.stem(x)))
        for k, stage in enumerate(self.stages):
            if k > 0:
                y = F.max_pool2d(y, 2)
            y = stage(y)
        return self.fc(y.mean((2, 3)))


class CharLstm(nn.Module):
    """As src/transfer/char-lstm.ts: nn.Embedding -> nn.LSTM (one layer) -> nn.Linear, time-major."""

    def __init__(self, vocab, embed, hidden):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden)
        self.fc = nn.Linear(hidden, vocab)

    def forward(self, x):
        y, _ = self.lstm(self.embedding(x))
        return self.fc(y.reshape(-1, y.shape[-1]))


def main():
    kind, threads, steps, shape = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if kind == "resnet":
        model = ResNet(shape["channels"], shape["widths"], shape["blocks"])
        x = torch.randn(shape["batch"], shape["channels"], shape["size"], shape["size"])
        y = torch.randint(0, 10, (shape["batch"],))
        per_step = shape["batch"]
    else:
        model = CharLstm(shape["vocab"], shape["embed"], shape["hidden"])
        x = torch.randint(0, shape["vocab"], (shape["steps"], shape["batch"]))
        y = torch.randint(0, shape["vocab"], (shape["steps"] * shape["batch"],))
        per_step = shape["steps"] * shape["batch"]
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    wall = cpu = 0.0
    for i in range(steps + 5):  # the first 5 steps warm up and are not timed
        c0, t0 = time.process_time(), time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=False)
        loss.backward()
        if kind == "lm":
            nn.utils.clip_grad_norm_(model.parameters(), shape["clip"])
        opt.step()
        if i >= 5:
            wall += time.perf_counter() - t0
            cpu += time.process_time() - c0
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"per_s": steps * per_step / wall, "step_ms": 1e3 * wall / steps, "cpu_ms": 1e3 * cpu / steps,
                      "params": params, "torch": torch.__version__, "threads": threads}))


if __name__ == "__main__":
    main()
