#!/usr/bin/python3
"""The Python module's steps (metagrad.torch.Optimizer) against PyTorch, in
one process, at --threads (metagrad's and torch's): adam on 1M and 10M
float32 parameters against torch.optim.Adam(foreach=True), and the learned
LSTM optimizer (paper 2: log_sign preprocessing, two LSTM layers of 20, a
linear output times 0.1) on 1M parameters against the same step written in
PyTorch (l2l_torch.py's LstmOptimizer over all coordinates at once, under
no_grad). Prints one JSON object per case; bench/run_python.sh sets the C++
step beside them. Needs PYTHONPATH naming the module (build/python)."""
import argparse
import json

import torch

import metagrad
import metagrad.torch as mt
from l2l_torch import HIDDEN, LstmOptimizer
from optim_torch import median_seconds


def median_ms(work, repeats):
    return 1e3 * median_seconds(work, repeats)


def parameter(n):
    p = torch.randn(n, requires_grad=True)
    p.grad = torch.randn(n)
    return p


class TorchLstmStep:
    """The lstm optimizer's step in PyTorch: state (h1, c1, h2, c2) per coordinate."""

    def __init__(self, p):
        self.p = p
        self.net = LstmOptimizer()
        self.state = tuple(torch.zeros(p.numel(), HIDDEN) for _ in range(4))

    @torch.no_grad()
    def step(self):
        update, self.state = self.net(self.p.grad.view(-1), self.state)
        self.p.view(-1).add_(update)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    metagrad.set_num_threads(args.threads)
    torch.manual_seed(1)
    cases = [("adam", "1M", 1 << 20, lambda p: mt.Optimizer([p], "adam(lr=0.001)").step,
              lambda p: torch.optim.Adam([p], lr=0.001, foreach=True).step),
             ("adam", "10M", 10 << 20, lambda p: mt.Optimizer([p], "adam(lr=0.001)").step,
              lambda p: torch.optim.Adam([p], lr=0.001, foreach=True).step),
             ("lstm", "1M", 1 << 20, lambda p: mt.Optimizer([p], "lstm").step, lambda p: TorchLstmStep(p).step)]
    for name, size, n, ours, theirs in cases:
        repeats = 20 if n > (1 << 20) or name == "lstm" else 100
        for impl, make in (("metagrad-python", ours), ("pytorch", theirs)):
            ms = median_ms(make(parameter(n)), repeats)
            print(json.dumps({"bench": name, "impl": impl, "size": size, "threads": args.threads, "ms": round(ms, 4)}),
                  flush=True)


if __name__ == "__main__":
    main()
