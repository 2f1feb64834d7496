#!/usr/bin/env python3
"""Runs torch.optim optimizers over given gradients in float32 and in float64 and prints every step's parameters.

Test support for test/runtime/optimizer-precision.test.ts (Debian's python3-torch):
  stdin:  {"initial": [floats], "grads": [[floats] per step], "cases": {name: {"optimizer": "Adam"|"RMSprop", "kwargs": {...}}}}
  stdout: {"torch": version, "cases": {name: {"float32": [[floats] per step], "float64": [[floats] per step]}}}
"""
import json
import sys

import torch


def trajectory(optimizer, kwargs, initial, grads, dtype):
    param = torch.nn.Parameter(torch.tensor(initial, dtype=torch.float32).to(dtype))
    opt = getattr(torch.optim, optimizer)([param], **kwargs)
    out = []
    for g in grads:
        # The same float32 gradient values in both precisions.
        param.grad = torch.tensor(g, dtype=torch.float32).to(dtype)
        opt.step()
        out.append(param.detach().to(torch.float64).tolist())
    return out


def main():
    spec = json.load(sys.stdin)
    cases = {}
    for name, case in spec["cases"].items():
        cases[name] = {
            precision: trajectory(case["optimizer"], case["kwargs"], spec["initial"], spec["grads"], dtype)
            for precision, dtype in (("float32", torch.float32), ("float64", torch.float64))
        }
    json.dump({"torch": torch.__version__, "cases": cases}, sys.stdout)


if __name__ == "__main__":
    main()
