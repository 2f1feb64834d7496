#!/usr/bin/env python3
"""Runs exported PyTorch optimizers (nos export --to pytorch) over given gradients and prints every step's parameters.

Test support for test/export/pytorch*.test.ts (Debian's python3-torch), all rules in one process:
  stdin:  {"initial": [[floats] per tensor], "grads": [[[floats] per tensor] per step],
           "cases": [{"name", "file", "class", "kwargs", "mode": "single"|"foreach"|"fused",
                      "groups": optional [{"tensors": [indices], "lr": float}], "device": optional, "cpu" or "cuda",
                      "offset": optional, each parameter a view starting that many floats into its storage}]}
  stdout: {"torch": version, "cases": {name: [[floats of every tensor, concatenated] per step]}}
Each case also resumes from a state_dict saved halfway, in a fresh optimizer, and must end bit for bit the same.
"""
import copy
import importlib.util
import json
import sys

import torch


def load(path, class_name):
    spec = importlib.util.spec_from_file_location(f"nos_export_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, class_name)


def make(cls, case, params):
    kwargs = dict(case["kwargs"])
    mode = case["mode"]
    if mode != "fused" and "fused" in cls.__init__.__code__.co_varnames:
        kwargs["fused"] = False
    groups = case.get("groups")
    if groups:
        params = [{"params": [params[i] for i in g["tensors"]], "lr": g["lr"]} for g in groups]
    return cls(params, foreach=(mode == "foreach"), **kwargs)


def steps(opt, params, grads):
    out = []
    for step in grads:
        for p, g in zip(params, step):
            p.grad = torch.tensor(g, dtype=torch.float32, device=p.device)
        opt.step()
        out.append([x for p in params for x in p.detach().tolist()])
    return out


def parameter(w, device, offset):
    """A parameter holding w, `offset` floats into its storage (a framework's slice: not 16-byte aligned)."""
    if not offset:
        return torch.nn.Parameter(torch.tensor(w, dtype=torch.float32, device=device))
    storage = torch.zeros(len(w) + offset, dtype=torch.float32, device=device)
    storage[offset:] = torch.tensor(w, dtype=torch.float32, device=device)
    p = torch.nn.Parameter(storage[offset:])
    assert p.storage_offset() == offset and p.is_contiguous()
    return p


def run(case, initial, grads):
    cls = load(case["file"], case["class"])
    device = case.get("device", "cpu")
    params = [parameter(w, device, case.get("offset", 0)) for w in initial]
    opt = make(cls, case, params)
    half = len(grads) // 2
    out = steps(opt, params, grads[:half])
    saved = copy.deepcopy(opt.state_dict())
    at_half = [p.detach().clone() for p in params]
    # torch's generator is not optimizer state: both second halves start it alike (rules with draws, unfused).
    torch.manual_seed(20171102)
    out += steps(opt, params, grads[half:])
    resumed = [torch.nn.Parameter(p) for p in at_half]
    again = make(cls, case, resumed)
    again.load_state_dict(saved)
    torch.manual_seed(20171102)
    steps(again, resumed, grads[half:])
    if not all(torch.equal(a, b) for a, b in zip(resumed, params)):
        raise SystemExit(f"{case['name']}: a run resumed from state_dict() ends elsewhere")
    return out


def main():
    spec = json.load(sys.stdin)
    results = {case["name"]: run(case, spec["initial"], spec["grads"]) for case in spec["cases"]}
    json.dump({"torch": torch.__version__, "cases": results}, sys.stdout)


if __name__ == "__main__":
    main()
