#!/usr/bin/python3
"""torch.optim side of bench/optim_bench.cpp (foreach implementations), and
PyTorch implementations of the papers' optimizers (paper_optimizers_torch.py):
the element-wise ones on the same parameter sets as torch.optim's, the
Kronecker-factored ones on the models' parameter lists only.

`--only NAME[,NAME]` times only those cases."""
import argparse
import json
import time

import torch

from paper_optimizers_torch import IfShampoo, RfAdamW, RfRmsProp, Shampoo, Smes, ab2, ab3
from torch_models import ResNet20, SmallCnn


def median_seconds(work, repeats):
    for _ in range(3):
        work()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


CASES = [("sgd-momentum", lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, foreach=True)),
         ("adam", lambda p: torch.optim.Adam(p, lr=0.001, foreach=True)),
         ("rmsprop", lambda p: torch.optim.RMSprop(p, lr=0.01, foreach=True)),
         ("adagrad", lambda p: torch.optim.Adagrad(p, lr=0.01, foreach=True)),
         ("smes", lambda p: Smes(p, lr=1e-3, exponent=0.25)),
         ("rf-rmsprop", lambda p: RfRmsProp(p, lr=1e-2, batch_size=128)),
         ("rf-adamw", lambda p: RfAdamW(p, lr=1e-3, batch_size=128)),
         ("ab2", lambda p: ab2(p, lr=1e-2)),
         ("ab3", lambda p: ab3(p, lr=1e-2))]
# Per-tensor matmuls and eigen-decompositions: on the models' parameter lists only.
KRONECKER_CASES = [("if-shampoo", lambda p: IfShampoo(p, lr=1e-3, batch_size=128)),
                   ("shampoo", lambda p: Shampoo(p, lr=1e-2, epsilon=1e-4))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    names = [name for name, _ in CASES + KRONECKER_CASES]
    parser.add_argument("--only", metavar="NAME[,NAME]", help="time only these cases, of: " + ", ".join(names))
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else set(names)
    if only - set(names):
        parser.error(f"unknown case(s) {', '.join(sorted(only - set(names)))}; the cases are {', '.join(names)}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    parameter_sets = [("1M", lambda: [torch.randn(1 << 20, requires_grad=True)], CASES),
                      ("10M", lambda: [torch.randn(10 << 20, requires_grad=True)], CASES),
                      ("resnet20", lambda: list(ResNet20().parameters()), CASES + KRONECKER_CASES),
                      ("cnn", lambda: list(SmallCnn().parameters()), KRONECKER_CASES)]
    for label, make_params, cases in parameter_sets:
        for name, make in cases:
            if name not in only:
                continue
            params = make_params()
            grads = [torch.randn_like(p) for p in params]
            opt = make(params)

            def step():
                for p, g in zip(params, grads):
                    p.grad = g
                opt.step()

            t = median_seconds(step, 20 if label == "10M" else 100)
            print(json.dumps({"bench": name, "impl": "pytorch", "size": label, "tensors": len(params),
                              "threads": args.threads, "ms": t * 1e3}), flush=True)


if __name__ == "__main__":
    main()
