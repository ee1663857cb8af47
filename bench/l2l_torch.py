#!/usr/bin/python3
"""PyTorch side of the `l2l-mlp`, `l2l-mlp-2nd` and `l2l-mlp-pes` workloads of
`metagrad bench`: one meta-iteration of the learned LSTM optimizer of "Learning
to learn by gradient descent by gradient descent" (optimizers.md 5.1-5.3) on the
784-20-10 sigmoid MLP, as a competent PyTorch user writes it fast. Prints one
JSON object.

One meta-iteration of `l2l-mlp` / `l2l-mlp-2nd` (the timed unit):
  theta_0 ~ N(0, 0.01^2) (15,910 coordinates, flat), LSTM state zero;
  g_0 = grad of the loss at theta_0 (no graph);
  for t = 0..19: x = log_sign(g_t) (g_t detached in first order, kept in
  second order); two LSTMCells + Linear(20, 1) over all coordinates at once;
  theta_{t+1} = theta_t + 0.1 * out; loss_{t+1} on a fresh batch of 128;
  g_{t+1} = autograd.grad(loss_{t+1}, theta_{t+1}, retain_graph=True,
  create_graph=second_order); meta_loss += loss_{t+1};
  then meta_loss.backward() and one Adam(lr=1e-3) step on the LSTM's parameters.

One meta-iteration of `l2l-mlp-pes` (the timed unit): Persistent ES
(optimizers.md 10.2, optim/learned/evolution.cpp) with a population of
--pairs 8 antithetic pairs, each pair its own problem, over one truncation of
20 steps of a fresh run (as `metagrad bench --workload l2l-mlp-pes
--meta-batch 8` times it: horizon 20 steps, unroll 20):
  per pair i: theta_0 ~ N(0, 0.01^2) and its own mini-batches of 128 (per step,
  the pair's two runs see the same one); eps_i ~ N(0, sigma^2 I) over the
  LSTM's 5,301 flat meta-parameters (5.1's layout = net.parameters()' order),
  sigma = 0.01; xi_i = 0 (fresh run), xi_i += eps_i;
  16 plain inner runs, the pair's "+" run with phi + eps_i and its "-" run with
  phi - eps_i, each from theta_0 with its own zero LSTM state, all under
  torch.no_grad: g_0 = grad of the loss at theta_0; for t = 0..19:
  x = log_sign(g_t), the two LSTM cells (torch.lstm_cell, nn.LSTMCell's op)
  and Linear(20, 1) with the run's weights over all coordinates,
  theta_{t+1} = theta_t + 0.1 * out, loss_{t+1} and g_{t+1} at theta_{t+1}
  (autograd on a detached leaf, one forward/backward for all 16 runs);
  L = sum of the 20 losses after each step, accumulated in float64;
  meta-gradient = mean over pairs of xi_i * (L_i+ - L_i-) / (2 sigma^2)
  (a fresh run's first truncation: xi_i = eps_i, so PES equals antithetic ES
  here, at the same cost); one Adam(lr=1e-3) step on the LSTM's parameters.
  The LSTM runs per run (the weights differ), the MLP's gradient for all 16
  runs at once (batched matmuls). images_per_s counts pairs * 128 * 20 images
  per meta-iteration, as metagrad counts a pair as one problem.

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

WORKLOADS = {"l2l-mlp": False, "l2l-mlp-2nd": True, "l2l-mlp-pes": None}  # name -> second order (None: PES)

SIZES = [784, 20, 10]
# flat theta = fc1.weight (20, 784) | fc1.bias (20) | fc2.weight (10, 20) | fc2.bias (10)
SHAPES = [(20, 784), (20,), (10, 20), (10,)]
NUM_COORDS = sum(math.prod(s) for s in SHAPES)  # 15,910
POOL = 4096
HIDDEN = 20
P = 10.0
SCALE = 0.1
SIGMA = 0.01  # PES's perturbation scale (optimizers.md 10.2)


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
    return torch.stack((f1, f2), dim=-1)  # (n, 2), or (runs, n, 2) for g of (runs, n)


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


def lstm_step(weights, x, state):
    """LstmOptimizer.forward with the given weights (net.parameters()' order)
    on preprocessed x (n, 2), without the module: each PES run has its own."""
    w1_ih, w1_hh, b1_ih, b1_hh, w2_ih, w2_hh, b2_ih, b2_hh, out_w, out_b = weights
    h1, c1, h2, c2 = state
    h1, c1 = torch.lstm_cell(x, (h1, c1), w1_ih, w1_hh, b1_ih, b1_hh)
    h2, c2 = torch.lstm_cell(h1, (h2, c2), w2_ih, w2_hh, b2_ih, b2_hh)
    return SCALE * F.linear(h2, out_w, out_b).view(-1), (h1, c1, h2, c2)


def paired_losses(theta, x, y):
    """The MLP losses of 2 * pairs runs at once: theta (2 * pairs, 15,910),
    runs 2i and 2i + 1 on pair i's batch x[i] (128, 784), y[i]; returns (2 * pairs,),
    each optimizee_loss(theta[r], x[r // 2], y[r // 2])."""
    pairs, runs, hidden = x.shape[0], theta.shape[0], SIZES[1]
    n1 = hidden * SIZES[0]
    w1 = theta[:, :n1].reshape(pairs, 2 * hidden, SIZES[0])  # a pair's two runs side by side
    b1 = theta[:, n1:n1 + hidden].reshape(pairs, 1, 2 * hidden)
    w2 = theta[:, n1 + hidden:n1 + hidden + SIZES[2] * hidden].view(runs, SIZES[2], hidden)
    b2 = theta[:, n1 + hidden + SIZES[2] * hidden:].view(runs, 1, SIZES[2])
    h = torch.sigmoid(torch.baddbmm(b1, x, w1.transpose(1, 2)))  # (pairs, 128, 2 * 20)
    h = h.view(pairs, -1, 2, hidden).transpose(1, 2).reshape(runs, -1, hidden)
    logits = torch.baddbmm(b2, h, w2.transpose(1, 2))  # (runs, 128, 10)
    labels = y.repeat_interleave(2, dim=0).view(-1)
    return F.cross_entropy(logits.view(-1, SIZES[2]), labels, reduction="none").view(runs, -1).mean(1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--unroll", type=int, default=20)
    parser.add_argument("--steps", type=int, default=10, help="timed meta-iterations")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=8, help="l2l-mlp-pes: antithetic pairs (population)")
    args = parser.parse_args()
    second_order = WORKLOADS[args.workload]
    pes = second_order is None
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

    params = list(net.parameters())  # 5.1's flat layout, in order
    numels = [p.numel() for p in params]
    num_meta = sum(numels)  # 5,301
    runs = 2 * args.pairs  # run 2i is pair i's "+" run, 2i + 1 its "-" run

    def pair_batches(t):  # step t's mini-batch of each pair, with replacement, seeded per step
        gen.manual_seed(1000 + t)
        idx = torch.randint(0, POOL, (args.pairs, args.batch), generator=gen)
        return pool_x[idx], pool_y[idx]

    def losses_and_grad(theta, t):  # every run's loss at step t's batch, and its gradient
        with torch.enable_grad():
            leaf = theta.detach().requires_grad_()
            losses = paired_losses(leaf, *pair_batches(t))
            g, = torch.autograd.grad(losses.sum(), leaf)  # runs are independent: row r is run r's gradient
        return losses.detach(), g

    def pes_iteration(it):
        gen.manual_seed(it)
        theta0 = torch.randn(args.pairs, NUM_COORDS, generator=gen) * 0.01
        eps = torch.randn(args.pairs, num_meta, generator=gen) * SIGMA
        xi = torch.zeros(args.pairs, num_meta)  # a fresh run's sum of perturbations
        with torch.no_grad():
            xi += eps
            phi = torch.nn.utils.parameters_to_vector(params)
            signs = torch.tensor([1.0, -1.0]).view(1, 2, 1)
            meta = (phi + signs * eps.unsqueeze(1)).view(runs, num_meta)  # each run's phi +- eps
            weights = [[w.view_as(p) for w, p in zip(row.split(numels), params)] for row in meta]
            theta = theta0.repeat_interleave(2, dim=0)  # (runs, 15,910): both runs of a pair from theta_0
            state = [tuple(torch.zeros(NUM_COORDS, HIDDEN) for _ in range(4)) for _ in range(runs)]
            _, g = losses_and_grad(theta, 0)  # g_0
            meta_loss = torch.zeros(runs, dtype=torch.float64)
            for t in range(args.unroll):
                x = log_sign(g)  # (runs, 15,910, 2)
                for r in range(runs):
                    delta, state[r] = lstm_step(weights[r], x[r], state[r])
                    theta[r] += delta
                losses, g = losses_and_grad(theta, t + 1)
                meta_loss += losses.double()
            plus, minus = meta_loss.view(args.pairs, 2).unbind(1)
            scale = ((plus - minus) / (2 * SIGMA * SIGMA)).float()
            grad = (xi * scale.unsqueeze(1)).sum(0) / args.pairs
        meta_opt.zero_grad(set_to_none=True)
        for p, gp in zip(params, grad.split(numels)):
            p.grad = gp.view_as(p)
        meta_opt.step()
        return meta_loss.mean().item()

    if pes:
        meta_iteration = pes_iteration
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
                      "images_per_s": (args.pairs if pes else 1) * args.batch * args.unroll / ms * 1e3,
                      "ms_per_step": ms,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)


if __name__ == "__main__":
    main()
