#!/usr/bin/env python3
"""Runs exported PyTorch optimizers (nos export --to pytorch) over given gradients and prints every step's parameters.

Test support for test/export/pytorch.test.ts (Debian's python3-torch), all rules in one process:
  stdin:  {"initial": [[floats] per tensor], "grads": [[[floats] per tensor] per step],
           "cases": [{"name", "file", "class", "kwargs", "mode": "single"|"foreach"|"fused"}]}
  stdout: {"torch": version, "cases": {name: [[floats of every tensor, concatenated] per step]}}
"""
import importlib.util
import json
import sys

import torch


def load(path, class_name):
    spec = importlib.util.spec_from_file_location(f"nos_export_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, class_name)


def run(case, initial, grads):
    cls = load(case["file"], case["class"])
    params = [torch.nn.Parameter(torch.tensor(w, dtype=torch.float32)) for w in initial]
    kwargs = dict(case["kwargs"])
    mode = case["mode"]
    if mode != "fused" and "fused" in cls.__init__.__code__.co_varnames:
        kwargs["fused"] = False
    opt = cls(params, foreach=(mode == "foreach"), **kwargs)
    out = []
    for step in grads:
        for p, g in zip(params, step):
            p.grad = torch.tensor(g, dtype=torch.float32)
        opt.step()
        out.append([x for p in params for x in p.detach().tolist()])
    # state_dict survives a round trip into a fresh optimizer of the same class.
    again = cls([torch.nn.Parameter(p.detach().clone()) for p in params], foreach=(mode == "foreach"), **kwargs)
    again.load_state_dict(opt.state_dict())
    assert again.state_dict()["state"].keys() == opt.state_dict()["state"].keys()
    return out


def main():
    spec = json.load(sys.stdin)
    results = {case["name"]: run(case, spec["initial"], spec["grads"]) for case in spec["cases"]}
    json.dump({"torch": torch.__version__, "cases": results}, sys.stdout)


if __name__ == "__main__":
    main()
