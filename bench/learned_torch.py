#!/usr/bin/python3
"""PyTorch reference for one step of the per-parameter MLP learned optimizers
`mlp_lopt` (../shared/docs/optimizers.md section 10.1) and `general`
(docs/general.md): the implementation metagrad's C++ step is benchmarked
against.

The step is written the way a careful PyTorch user would write it for speed:
float32, torch.no_grad(), every coordinate of a tensor at once through torch
ops and three matmuls per block, the optimizer state and all scratch buffers
allocated once. Exact rewrites (equal up to rounding) keep it from doing work
the definition does not need:
  - the inputs that are the same for every coordinate of a tensor (time,
    horizon, tensor scale, ...) are folded into the first layer's bias, and
    mlp_lopt's per-feature normalisation into its first-layer weights;
  - for a vector, general's inputs g/e and mh_2/e equal g/d and mh_2/d
    (e = d), so their first-layer rows are merged;
  - coordinates are processed in blocks of `--chunk` per thread (a Python
    loop over 16 blocks per 1M coordinates, not over coordinates), so that
    the 32-wide hidden activations are reused from cache instead of
    streaming 2 x 128 MiB (h1, h2) per 1M coordinates through memory.

`--check` runs the same step in float64 on the problems whose trajectories
tests/optim/fixtures/{general,mlp_lopt}.json hold (written by the NumPy
transcriptions generate_{general,mlp_lopt}_fixtures.py, whose problem
definitions and closed-form gradients it imports) and asserts agreement to
1e-10 relative (to max(|x|, 1) per coordinate), at the benchmark's block
size and at blocks of 2 coordinates, so the benchmark times the same
computation.

Output: one JSON object per line, as bench/optim_torch.py.
"""
import argparse
import json
import math
import os
import re
import sys

import numpy as np
import torch

from optim_torch import median_seconds  # the same timing as torch.optim's side

HIDDEN = 32
INPUTS = 19
OUTPUTS = 2
MLP_LOPT_P = INPUTS * HIDDEN + HIDDEN + HIDDEN * HIDDEN + HIDDEN + HIDDEN * OUTPUTS + OUTPUTS  # 1762
GENERAL_P = MLP_LOPT_P + 1  # + log_lr, last: 1763
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "optim", "fixtures")


def mlp_flops(coordinates):
    """FLOPs of the per-coordinate MLP only: one multiply and one add (2 FLOPs)
    per weight of W1 [19 x 32], W2 [32 x 32] and W3 [32 x 2], i.e.
    2 * (19*32 + 32*32 + 32*2) = 3392 per coordinate, for both optimizers.
    Not counted: biases, ReLU/tanh/exp, feature computation, state updates,
    the final update. The nominal input width 19 is counted although both
    implementations may fold the shared inputs into the bias (this one then
    multiplies by 8 (mlp_lopt), 7 or 5 (general) first-layer rows), so that
    every implementation reports the same F for the same step."""
    return 2 * (INPUTS * HIDDEN + HIDDEN * HIDDEN + HIDDEN * OUTPUTS) * coordinates


def formula_weights(p):
    """optimizers.md section 9.1's test weights, as the fixture generators use them."""
    return torch.tensor([(((37 * i + 11) % 101) - 50) / 256 for i in range(p)], dtype=torch.float64)


class _Mlp:
    """The 19-32-32-2 network, unpacked once from the flat row-major
    `x @ W` layout W1[19x32] | b1 | W2[32x32] | b2 | W3[32x2] | b3, and stored
    transposed: coordinates are columns, so a block of features (k x c) goes
    through `W^T @ X` and the state rows (one momentum per row) are usable as
    matmul operands without copying."""

    def __init__(self, weights, dtype):
        w = weights.to(dtype)
        parts, offset = [], 0
        for n in (INPUTS * HIDDEN, HIDDEN, HIDDEN * HIDDEN, HIDDEN, HIDDEN * OUTPUTS, OUTPUTS):
            parts.append(w[offset:offset + n])
            offset += n
        self.W1 = parts[0].view(INPUTS, HIDDEN)
        self.W1t = self.W1.t().contiguous()
        self.b1 = parts[1]
        self.W2t = parts[2].view(HIDDEN, HIDDEN).t().contiguous()
        self.b2 = parts[3].view(HIDDEN, 1).clone()
        self.W3t = parts[4].view(HIDDEN, OUTPUTS).t().contiguous()
        self.b3 = parts[5].view(OUTPUTS, 1).clone()
        self.rest = w[offset:]


class _Scratch:
    """Per-block buffers, allocated once and reused every block and step, so a
    step allocates (and page-faults) nothing large."""

    def __init__(self, chunk, dtype, features):
        self.chunk = chunk
        self.x = torch.empty(features * chunk, dtype=dtype)
        self.h1 = torch.empty(HIDDEN * chunk, dtype=dtype)
        self.h2 = torch.empty(HIDDEN * chunk, dtype=dtype)
        self.out = torch.empty(OUTPUTS * chunk, dtype=dtype)
        self.d = torch.empty(chunk, dtype=dtype)
        self.a = torch.empty(chunk, dtype=dtype)

    def view(self, buffer, rows, columns):
        # a contiguous (rows x columns) view, also for the short last block
        return buffer[:rows * columns].view(rows, columns)

    def network(self, mlp, w1t, b1, x):
        """out = W3^T relu(W2^T relu(w1t x + b1) + b2) + b3 on a block x (k x c)."""
        c = x.shape[1]
        h1 = torch.addmm(b1, w1t, x, out=self.view(self.h1, HIDDEN, c)).relu_()
        h2 = torch.addmm(mlp.b2, mlp.W2t, h1, out=self.view(self.h2, HIDDEN, c)).relu_()
        return torch.addmm(mlp.b3, mlp.W3t, h2, out=self.view(self.out, OUTPUTS, c))


def _blocks(n, chunk):
    return ((a, min(a + chunk, n)) for a in range(0, n, chunk))


class MlpLopt:
    """mlp_lopt, optimizers.md section 10.1 (exp_mult, step_mult as there)."""
    DECAYS = (0.1, 0.5, 0.9, 0.99, 0.999, 0.9999)
    SCALES = (1, 3, 10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000)

    def __init__(self, params, weights, exp_mult=1e-3, step_mult=1e-3, chunk=65536):
        assert weights.numel() == MLP_LOPT_P
        dtype = params[0].dtype
        self.mlp = _Mlp(weights, dtype)
        self.exp_mult, self.step_mult = exp_mult, step_mult
        self.t = 0
        # Per tensor one (8 x n) feature matrix: rows 2..7 are the six momenta
        # (the state), rows 0 and 1 receive g and p each step, so that the
        # first layer reads all 8 features of a block as one strided matmul
        # operand. Two extra rows of memory buy one GEMM instead of three.
        self.features = [torch.zeros(8, p.numel(), dtype=dtype) for p in params]
        self.decay = torch.tensor(self.DECAYS, dtype=dtype).view(6, 1)
        self.one_minus_decay = torch.tensor([1 - b for b in self.DECAYS], dtype=dtype).view(6, 1)
        self.scratch = _Scratch(min(chunk, max(p.numel() for p in params)), dtype, 0)

    @torch.no_grad()
    def step(self, params, grads):
        mlp = self.mlp
        time_features = torch.tensor([math.tanh(self.t / s - 1) for s in self.SCALES], dtype=mlp.W1.dtype)
        # T is the same for every coordinate: its contribution is part of the bias.
        b1 = (mlp.b1 + time_features @ mlp.W1[8:]).view(HIDDEN, 1)
        for p, g, F in zip(params, grads, self.features):
            p, g = p.view(-1), g.view(-1)
            n = p.numel()
            F[0].copy_(g)
            F[1].copy_(p)  # p before this step
            F[2:].mul_(self.decay).addcmul_(self.one_minus_decay, g)  # momenta first
            # F_k / sqrt(1e-5 + mean(F_k^2)) is F_k times a per-feature
            # constant: scale W1's rows instead of the n x 8 features.
            mean_square = torch.linalg.vector_norm(F, dim=1).square_().div_(n)
            w1t = mlp.W1t[:, :8] * mean_square.add_(1e-5).rsqrt_()
            for a, b in _blocks(n, self.scratch.chunk):
                out = self.scratch.network(mlp, w1t, b1, F[:, a:b])
                # p - d * exp(exp_mult * s) * step_mult
                scale = out[1].mul_(self.exp_mult).exp_()
                p[a:b].sub_(out[0].mul_(scale).mul_(self.step_mult))
        self.t += 1


class General:
    """general, docs/general.md (horizon as there; 0: unknown)."""
    DECAYS = (0.5, 0.9, 0.99)
    BETA2 = 0.999
    FACTORED_DECAY = 0.99
    EPS = 1e-8
    CLIP = 10.0

    def __init__(self, params, weights, horizon=0, chunk=65536):
        assert weights.numel() == GENERAL_P
        dtype = params[0].dtype
        self.mlp = _Mlp(weights, dtype)
        self.log_lr = float(self.mlp.rest[0])
        self.horizon = horizon
        self.t = 0
        self.m = [torch.zeros(3, p.numel(), dtype=dtype) for p in params]
        self.v = [torch.zeros(p.numel(), dtype=dtype) for p in params]
        # Adafactor row/column statistics for tensors of 2+ dims (R = shape[0]).
        self.rc = [(torch.zeros(p.shape[0], dtype=dtype), torch.zeros(p.numel() // p.shape[0], dtype=dtype))
                   if p.dim() >= 2 else None for p in params]
        self.decay = torch.tensor(self.DECAYS, dtype=dtype).view(3, 1)
        self.one_minus_decay = torch.tensor([1 - b for b in self.DECAYS], dtype=dtype).view(3, 1)
        # For a vector e = d, so features 5 and 6 (g/e, mh_2/e) equal features
        # 1 and 3 (clipping included): merge their W1 rows and feed 5 features.
        W1t = self.mlp.W1t
        self.w1t_matrix = W1t[:, :7].contiguous()
        self.w1t_vector = torch.stack([W1t[:, 0] + W1t[:, 4], W1t[:, 1], W1t[:, 2] + W1t[:, 5], W1t[:, 3],
                                       W1t[:, 6]], dim=1)
        self.scratch = _Scratch(min(chunk, max(p.numel() for p in params)), dtype, 7)

    def _shared_inputs(self, s, columns, matrix):
        """Inputs 8..19 of docs/general.md: the same for every coordinate of a tensor."""
        t = self.t
        x = [math.log10(s + 1e-8) / 4, math.log10(columns) / 4, 1.0 if matrix else 0.0]
        x += [math.tanh(t / 10 - 1), math.tanh(t / 100 - 1), math.tanh(t / 1000 - 1), math.tanh(t / 10000 - 1)]
        if self.horizon > 0:
            f = t / self.horizon
            x += [math.tanh(10 * (f - 0.25)), math.tanh(10 * (f - 0.5)), math.tanh(10 * (f - 0.75)),
                  math.tanh(10 * (f - 0.9)), 1.0]
        else:
            x += [0.0] * 5
        return torch.tensor(x, dtype=self.mlp.W1.dtype)

    @torch.no_grad()
    def step(self, params, grads):
        mlp, sc = self.mlp, self.scratch
        k = self.t + 1
        # bias corrections as multipliers: 1 / (1 - B_j^k) and 1 / sqrt(1 - b2^k)
        correction = torch.tensor([1 / (1 - b ** k) for b in self.DECAYS], dtype=mlp.W1.dtype).view(3, 1)
        inv_root_c2 = 1 / math.sqrt(1 - self.BETA2 ** k)
        for i, (p_in, g_in) in enumerate(zip(params, grads)):
            p, g = p_in.view(-1), g_in.view(-1)
            n = p.numel()
            m, v = self.m[i], self.v[i]
            matrix = self.rc[i] is not None
            # Tensor-wide quantities first: the scale of p before the step and,
            # for a matrix, the factored second-moment estimate e.
            s = float(torch.linalg.vector_norm(p)) / math.sqrt(n)
            inv_scale = 1 / (s + self.EPS)
            if matrix:
                r, q = self.rc[i]
                g2 = (g * g).view(r.numel(), q.numel())
                r.mul_(self.FACTORED_DECAY).add_(g2.mean(dim=1), alpha=1 - self.FACTORED_DECAY)
                q.mul_(self.FACTORED_DECAY).add_(g2.mean(dim=0), alpha=1 - self.FACTORED_DECAY)
                e_scale = 1 / ((float(r.mean()) + 1e-30) * (1 - self.FACTORED_DECAY ** k))
                inv_e = torch.outer(r, q).view(-1).mul_(e_scale).sqrt_().add_(self.EPS).reciprocal_()
                w1t = self.w1t_matrix
                columns = q.numel()
            else:
                w1t = self.w1t_vector
                columns = 1
            b1 = (mlp.b1 + self._shared_inputs(s, columns, matrix) @ mlp.W1[7:]).view(HIDDEN, 1)
            for a, b in _blocks(n, sc.chunk):
                c = b - a
                gc, pc, mc, vc = g[a:b], p[a:b], m[:, a:b], v[a:b]
                mc.mul_(self.decay).addcmul_(self.one_minus_decay, gc)
                vc.mul_(self.BETA2).addcmul_(gc, gc, value=1 - self.BETA2)
                # 1 / d, d = sqrt(v) / sqrt(1 - b2^k) + eps: Adam's denominator
                inv_d = torch.sqrt(vc, out=sc.d[:c]).mul_(inv_root_c2).add_(self.EPS).reciprocal_()
                x = sc.view(sc.x, 7 if matrix else 5, c)
                torch.mul(mc, correction, out=x[1:4])  # mh_1..3, bias-corrected momenta
                if matrix:
                    ie = inv_e[a:b]
                    torch.mul(gc, ie, out=x[4])
                    torch.mul(x[2], ie, out=x[5])
                torch.mul(gc, inv_d, out=x[0])
                x[1:4].mul_(inv_d)
                direction = sc.a[:c].copy_(x[2])  # a = mh_2 / d, Adam's direction, unclipped
                torch.mul(pc, inv_scale, out=x[-1])
                x.clamp_(-self.CLIP, self.CLIP)
                out = sc.network(mlp, w1t, b1, x)
                # p - exp(log_lr + 3 tanh(o1)) * (a + tanh(o2))
                lr = out[0].tanh_().mul_(3).add_(self.log_lr).exp_()
                pc.sub_(lr.mul_(out[1].tanh_().add_(direction)))
        self.t += 1


def _spec_value(spec, name, default):
    match = re.search(rf"\b{name}=([-+0-9.eE]+)", spec)
    return float(match.group(1)) if match else default


def check(chunk):
    """Replays every fixture trajectory in float64 with the benchmarked step."""
    sys.path.insert(0, FIXTURES)
    from generate_mlp_lopt_fixtures import problems  # side-effect free; general's generator uses the same
    probs = problems()

    def make(name, spec, params):
        assert "weights=formula" in spec, spec
        if name == "mlp_lopt":
            return MlpLopt(params, formula_weights(MLP_LOPT_P), _spec_value(spec, "exp_mult", 1e-3),
                           _spec_value(spec, "step_mult", 1e-3), chunk=chunk)
        w = formula_weights(GENERAL_P)
        w[-1] = math.log(0.01)  # docs/general.md: formula weights except log_lr = ln(0.01)
        return General(params, w, int(_spec_value(spec, "horizon", 0)), chunk=chunk)

    for name in ("general", "mlp_lopt"):
        with open(os.path.join(FIXTURES, name + ".json")) as f:
            fixture = json.load(f)
        assert fixture["dtype"] == "float64"
        worst = 0.0
        for case in fixture["cases"]:
            initial, gradient = probs[case["problem"]]
            params = [torch.tensor(p, dtype=torch.float64) for p in initial]
            opt = make(name, case["spec"], params)
            expected = np.array(case["rows"])
            assert expected.shape[0] == fixture["steps"] + 1
            for t in range(fixture["steps"] + 1):
                if t > 0:
                    grads = [torch.from_numpy(np.asarray(gr, dtype=np.float64))
                             for gr in gradient([p.numpy() for p in params])]
                    opt.step(params, grads)
                got = np.concatenate([p.numpy().ravel() for p in params])
                # relative to the coordinate, floored at 1 for coordinates near 0
                error = np.max(np.abs(got - expected[t]) / np.maximum(np.abs(expected[t]), 1.0))
                assert error <= 1e-10, (name, case["spec"], case["problem"], t, error)
                worst = max(worst, error)
        print(f"{name}: {len(fixture['cases'])} cases x {fixture['steps']} steps, chunk {chunk}, "
              f"max relative error {worst:.3e}: check passed", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sizes", default="1M,10M", help="of: 1M, 10M")
    parser.add_argument("--only", metavar="NAME[,NAME]", default="general,mlp_lopt")
    parser.add_argument("--repeats", type=int, help="timed steps (default 20 for 1M, 5 for 10M)")
    # 65536 measured fastest of 4096..1M at 1 thread (1M coordinates, ~20% faster than one block)
    parser.add_argument("--chunk", type=int, default=65536,
                        help="coordinates per block and thread (the blocks hold threads * chunk)")
    parser.add_argument("--check", action="store_true", help="replay the float64 fixtures, then exit")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.check:
        # the benchmark's block size, and tiny blocks that cut every fixture tensor
        for chunk in (args.chunk * args.threads, 2):
            check(chunk)
        return
    sizes = {"1M": 1 << 20, "10M": 10 << 20}
    chosen = args.sizes.split(",")
    only = args.only.split(",")
    if set(chosen) - set(sizes):
        parser.error(f"unknown size(s) {', '.join(sorted(set(chosen) - set(sizes)))}; the sizes are 1M, 10M")
    if set(only) - {"general", "mlp_lopt"}:
        parser.error(f"unknown optimizer(s) {', '.join(sorted(set(only) - {'general', 'mlp_lopt'}))}")
    # Whole blocks per thread: torch's element-wise kernels split a block
    # across threads only in pieces of 32768, and the GEMMs by columns.
    chunk = args.chunk * args.threads
    for label in chosen:
        n = sizes[label]
        for name in only:
            torch.manual_seed(1)
            params = [torch.randn(n)]
            grads = [torch.randn(n)]
            weights = torch.randn(GENERAL_P if name == "general" else MLP_LOPT_P, dtype=torch.float64) * 0.1
            if name == "general":
                weights[-1] = math.log(1e-3)
                opt = General(params, weights, chunk=chunk)
            else:
                opt = MlpLopt(params, weights, chunk=chunk)
            seconds = median_seconds(lambda: opt.step(params, grads), args.repeats or (20 if label == "1M" else 5))
            assert torch.isfinite(params[0]).all(), name
            print(json.dumps({"bench": name, "impl": "pytorch", "size": label, "threads": args.threads,
                              "ms": seconds * 1e3, "tensors": 1, "flops_per_step": mlp_flops(n)}), flush=True)


if __name__ == "__main__":
    main()
