# PyTorch peer of the rosenbrock transfer task (src/transfer/rosenbrock.ts): the same starts, steps and learning
# rates, float32 parameters, the gradient computed in double from them and rounded to float32 (as nos does).
# sgd, momentum, adam and rmsprop are torch.optim's; powersign, addsign and their -ld variants are written here
# from the paper's formulas (Bello et al. 2017, section 5; TensorFlow's sign_decay.py for ld), as
# torch.optim.Optimizer subclasses.  Usage: transfer_rosenbrock_torch.py < {"steps", "starts", "lrs", "optimizers"}
# Prints one JSON object: {"torch": version, "results": {optimizer: [[distance or null per start] per lr]}}.
# Every start is one row of a [starts, 2] parameter: all these updates are elementwise, so each row follows exactly
# the steps it would alone.
import json
import math
import sys

import torch


class SignRule(torch.optim.Optimizer):
    """w -= lr * f(sign(g) * sign(m)) * g with m the running average of g (beta 0.9), as PowerSign and AddSign.

    kind: 'power' gives exp(d * s) * g, 'add' gives (1 + d * s) * g, where s = sign(g) * sign(m) and d is 1 or the
    linear decay ld = (T - t) / T at the 0-based global step t (in float32, as TensorFlow and nos compute it).
    sign(m) is taken after m is updated with this g (TensorFlow's PowerSign kernel does the same); the bias
    correction of m does not change its sign.
    """

    def __init__(self, params, lr, kind, decay, total_steps, beta=0.9):
        super().__init__(params, dict(lr=lr))
        self.kind, self.decay, self.total, self.beta = kind, decay, total_steps, beta
        self.t = 0

    @torch.no_grad()
    def step(self):
        if self.decay:
            remaining = torch.tensor(float(self.total - min(self.t, self.total)), dtype=torch.float32)
            d = torch.clamp(remaining / torch.tensor(float(self.total), dtype=torch.float32), min=0)
        else:
            d = torch.tensor(1.0, dtype=torch.float32)
        self.t += 1
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                if "m" not in state:
                    state["m"] = torch.zeros_like(p)
                m = state["m"]
                m.mul_(self.beta).add_(p.grad, alpha=1 - self.beta)
                s = torch.sign(p.grad) * torch.sign(m)
                scale = torch.exp(d * s) if self.kind == "power" else 1 + d * s
                p.sub_(group["lr"] * (scale * p.grad))


def make(name, params, lr, steps):
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999), eps=1e-8)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.99, eps=1e-8)
    kinds = {"powersign": ("power", False), "addsign": ("add", False), "powersign-ld": ("power", True), "addsign-ld": ("add", True)}
    if name in kinds:
        kind, decay = kinds[name]
        return SignRule(params, lr, kind, decay, steps)
    raise SystemExit(f"transfer_rosenbrock_torch.py: no PyTorch version of optimizer '{name}'")


def run(name, lr, starts, steps):
    w = torch.nn.Parameter(torch.tensor([[s["x"], s["y"]] for s in starts], dtype=torch.float32))
    opt = make(name, [w], lr, steps)
    escaped = torch.zeros(len(starts), dtype=torch.bool)
    for _ in range(steps):
        x, y = w.detach()[:, 0].double(), w.detach()[:, 1].double()
        w.grad = torch.stack([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)], dim=1).float()
        opt.step()
        escaped |= ~((w.detach().abs() < 1e6).all(dim=1))
    d = torch.hypot(w.detach()[:, 0].double() - 1, w.detach()[:, 1].double() - 1)
    return [None if e else float(v) for e, v in zip(escaped.tolist(), d.tolist())]


def main():
    spec = json.load(sys.stdin)
    torch.set_num_threads(1)
    results = {}
    for name in spec["optimizers"]:
        results[name] = [run(name, lr, spec["starts"], spec["steps"]) for lr in spec["lrs"]]
    print(json.dumps({"torch": torch.__version__, "results": results}))


if __name__ == "__main__":
    main()
