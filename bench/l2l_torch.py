#!/usr/bin/python3
"""PyTorch side of the `l2l-mlp` and `l2l-mlp-2nd` workloads of `metagrad bench`:
one meta-iteration of the learned LSTM optimizer of "Learning to learn by
gradient descent by gradient descent" (optimizers.md 5.1-5.3) on the 784-20-10
sigmoid MLP, as a competent PyTorch user writes it fast. Prints one JSON object.

One meta-iteration (the timed unit):
  theta_0 ~ N(0, 0.01^2) (15,910 coordinates, flat), LSTM state zero;
  g_0 = grad of the loss at theta_0 (no graph);
  for t = 0..19: x = log_sign(g_t) (g_t detached in first order, kept in
  second order); two LSTMCells + Linear(20, 1) over all coordinates at once;
  theta_{t+1} = theta_t + 0.1 * out; loss_{t+1} on a fresh batch of 128;
  g_{t+1} = autograd.grad(loss_{t+1}, theta_{t+1}, retain_graph=True,
  create_graph=second_order); meta_loss += loss_{t+1};
  then meta_loss.backward() and one Adam(lr=1e-3) step on the LSTM's parameters.

Run it "tuned" (PERFORMANCE.md): LD_PRELOAD tcmalloc and the OpenMP OpenBLAS.
"""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

WORKLOADS = {"l2l-mlp": False, "l2l-mlp-2nd": True}  # name -> second order

SIZES = [784, 20, 10]
# flat theta = fc1.weight (20, 784) | fc1.bias (20) | fc2.weight (10, 20) | fc2.bias (10)
SHAPES = [(20, 784), (20,), (10, 20), (10,)]
NUM_COORDS = sum(math.prod(s) for s in SHAPES)  # 15,910
POOL = 4096
HIDDEN = 20
P = 10.0
SCALE = 0.1


def unflatten(theta):
    views, offset = [], 0
    for shape in SHAPES:
        n = math.prod(shape)
        views.append(theta[offset:offset + n].view(shape))
        offset += n
    return views


def optimizee_loss(theta, x, y):
    w1, b1, w2, b2 = unflatten(theta)
    return F.cross_entropy(F.linear(torch.sigmoid(F.linear(x, w1, b1)), w2, b2), y)


def log_sign(g):
    """(log|g|/p, sign g) if |g| >= exp(-p) else (-1, exp(p) g), as (n, 2).
    Branch form: exact first and second derivatives, and the unselected log
    branch sees 1 instead of |g| so that no inf/NaN reaches the gradient."""
    a = g.abs()
    big = a >= math.exp(-P)
    f1 = torch.where(big, torch.log(torch.where(big, a, 1.0)) * (1.0 / P), -1.0)
    f2 = torch.where(big, torch.sign(g), g * math.exp(P))
    return torch.stack((f1, f2), dim=1)


class LstmOptimizer(nn.Module):
    def __init__(self):
        super().__init__()
        self.cell1 = nn.LSTMCell(2, HIDDEN)
        self.cell2 = nn.LSTMCell(HIDDEN, HIDDEN)
        self.out = nn.Linear(HIDDEN, 1)

    def forward(self, g, state):
        h1, c1, h2, c2 = state
        h1, c1 = self.cell1(log_sign(g), (h1, c1))
        h2, c2 = self.cell2(h1, (h2, c2))
        return SCALE * self.out(h2).view(-1), (h1, c1, h2, c2)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--unroll", type=int, default=20)
    parser.add_argument("--steps", type=int, default=10, help="timed meta-iterations")
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    second_order = WORKLOADS[args.workload]
    torch.set_num_threads(args.threads)

    torch.manual_seed(0)  # the LSTM's default init, U(-1/sqrt(20), 1/sqrt(20))
    net = LstmOptimizer()
    meta_opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    pool_x = torch.randn(POOL, SIZES[0], generator=gen)
    pool_y = torch.randint(0, SIZES[-1], (POOL,), generator=gen)

    def batch(t):  # fresh mini-batch for optimizee step t, with replacement, seeded per step
        gen.manual_seed(1000 + t)
        idx = torch.randint(0, POOL, (args.batch,), generator=gen)
        return pool_x[idx], pool_y[idx]

    def meta_iteration(it):
        gen.manual_seed(it)
        theta = torch.randn(NUM_COORDS, generator=gen) * 0.01
        state = tuple(torch.zeros(NUM_COORDS, HIDDEN) for _ in range(4))
        leaf = theta.detach().requires_grad_()
        g, = torch.autograd.grad(optimizee_loss(leaf, *batch(0)), leaf)  # g_0: no graph
        meta_loss = 0.0
        for t in range(args.unroll):
            delta, state = net(g if second_order else g.detach(), state)
            theta = theta + delta
            loss = optimizee_loss(theta, *batch(t + 1))
            g, = torch.autograd.grad(loss, theta, retain_graph=True, create_graph=second_order)
            meta_loss = meta_loss + loss
        meta_opt.zero_grad(set_to_none=True)
        meta_loss.backward()
        meta_opt.step()
        return meta_loss.item()

    for it in range(args.warmup):
        meta_iteration(it)
    times = []
    for it in range(args.steps):
        start = time.perf_counter()
        meta_iteration(it)
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    ms = times[len(times) // 2]
    print(json.dumps({"workload": args.workload, "threads": args.threads, "batch": args.batch,
                      "images_per_s": args.batch * args.unroll / ms * 1e3, "ms_per_step": ms,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)


if __name__ == "__main__":
    main()
