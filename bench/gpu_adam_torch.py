#!/usr/bin/env python3
"""PyTorch's fused Adam (torch.optim.Adam(fused=True)) on the same parameters as bench/gpu-engine.ts's Adam update:
CHILDREN copies of the paper convnet's tensors (or one flat tensor of the same size).  Prints one JSON line with the
median milliseconds of one optimizer step for each layout, timed with CUDA events after warm-up."""
import argparse
import json
import statistics

import torch


def time_steps(params, reps):
    opt = torch.optim.Adam(params, lr=1e-3, fused=True)
    for p in params:
        p.grad = torch.randn_like(p) * 1e-2
    for _ in range(5):
        opt.step()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        opt.step()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--children', type=int, required=True)
    parser.add_argument('--shapes', required=True, help='JSON list of one child\'s tensor shapes')
    parser.add_argument('--reps', type=int, default=50)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({'error': 'torch sees no CUDA device'}))
        return
    shapes = json.loads(args.shapes)
    per_child = sum(int(torch.tensor(s).prod()) for s in shapes)
    dev = torch.device('cuda')
    flat = [torch.randn(per_child * args.children, device=dev, requires_grad=True)]
    listed = [torch.randn(*s, device=dev, requires_grad=True) for _ in range(args.children) for s in shapes]
    print(json.dumps({
        'torch': torch.__version__, 'device': torch.cuda.get_device_name(0), 'params': per_child * args.children,
        'flat_ms': time_steps(flat, args.reps), 'list_ms': time_steps(listed, args.reps), 'tensors': len(listed),
    }))


if __name__ == '__main__':
    main()
