"""The papers' optimizers of docs/optimizers.md in PyTorch, for bench/optim_torch.py.

Written as a PyTorch user would write fast ones: the element-wise methods
(smes, rf_rmsprop, rf_adamw, ab2/ab3) with multi-tensor torch._foreach_* ops,
as torch.optim's foreach=True path; the Kronecker-factored ones (if_shampoo,
shampoo) per tensor with matmuls. Formulas and defaults follow the spec
(sections 6, 7, 8.1-8.4); options the benchmark does not need are left out.
"""
import math

import torch
from torch.optim import Optimizer

_foreach_pow_ = getattr(torch, "_foreach_pow_", None)  # torch >= 2.1
_foreach_copy_ = getattr(torch, "_foreach_copy_", None)  # torch >= 2.1


def _pow_(tensors, exponent):
    if _foreach_pow_ is not None:
        _foreach_pow_(tensors, exponent)
    else:
        for t in tensors:
            t.pow_(exponent)


def _copy_(dst, src):
    if _foreach_copy_ is not None:
        _foreach_copy_(dst, src)
    else:
        for d, s in zip(dst, src):
            d.copy_(s)


def _mode_products(x, matrices):
    """x x_1 M_1 x_2 ... x_N M_N, where (x x_n M)[..a..] = sum_b M[a][b] x[..b..]; None is the
    identity. Each contraction takes the leading axis and appends the result's, so the
    axes are back in order at the end."""
    for m in matrices:
        x = x.movedim(0, -1) if m is None else torch.tensordot(x, m, dims=([0], [1]))
    return x


class _PaperOptimizer(Optimizer):
    """step() calls _update(group) for each group under no_grad; _gather collects the
    parameters that have a gradient, their gradients and their (lazily made) states."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._begin_step()
        for group in self.param_groups:
            self._update(group)
        return loss

    def _begin_step(self):
        pass

    def _gather(self, group, init):
        params, grads, states = [], [], []
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            if not state:
                state.update(init(p))
            params.append(p)
            grads.append(p.grad)
            states.append(state)
        return params, grads, states


def _adam_moments(states, grads, b1, b2):
    """Adam's moment updates in place, and the step count; returns the moment lists."""
    m, v = [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states]
    torch._foreach_mul_(m, b1)
    torch._foreach_add_(m, grads, alpha=1 - b1)
    torch._foreach_mul_(v, b2)
    torch._foreach_addcmul_(v, grads, grads, 1 - b2)
    for s in states:
        s["step"] += 1
    return m, v


class Smes(_PaperOptimizer):
    """Section 7: theta -= (lr/bc1) * m / (pow(v/bc2, exponent) + eps)."""

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, exponent=0.25, weight_decay=0.0,
                 decoupled_weight_decay=False):
        super().__init__(params, dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, exponent=exponent,
                                      weight_decay=weight_decay, decoupled_weight_decay=decoupled_weight_decay))

    def _update(self, group):
        params, grads, states = self._gather(
            group, lambda p: dict(step=0, exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p)))
        if not params:
            return
        lr, b1, b2, wd, e = group["lr"], group["beta1"], group["beta2"], group["weight_decay"], group["exponent"]
        if wd != 0:
            if group["decoupled_weight_decay"]:
                torch._foreach_mul_(params, 1 - lr * wd)
            else:
                grads = torch._foreach_add(grads, params, alpha=wd)
        m, v = _adam_moments(states, grads, b1, b2)
        bc1 = [1 - b1 ** s["step"] for s in states]
        bc2 = [1 - b2 ** s["step"] for s in states]
        if e == 0.5:  # Adam's arithmetic
            denom = torch._foreach_sqrt(v)
            torch._foreach_div_(denom, [math.sqrt(b) for b in bc2])
        else:
            denom = torch._foreach_div(v, bc2)
            if e == 0.25:  # the default: two square roots, much cheaper than pow (as metagrad does)
                torch._foreach_sqrt_(denom)
                torch._foreach_sqrt_(denom)
            else:  # pow(0, 0) = 1; pow(0, e < 0) = inf, a zero update
                _pow_(denom, e)
        torch._foreach_add_(denom, group["eps"])
        torch._foreach_addcdiv_(params, m, denom, [-lr / b for b in bc1])


class RfRmsProp(_PaperOptimizer):
    """Section 8.1: theta -= lr * g / (Bf*sq + damping), sq starting at 1/Bf."""

    def __init__(self, params, lr=1e-2, lr_cov=1e-3, damping=1e-4, momentum=0.0, weight_decay=0.0, batch_size=None,
                 s_init="ones", batch_scaling=True):
        if batch_size is None:
            raise ValueError("rf_rmsprop: batch_size is required")
        super().__init__(params, dict(lr=lr, lr_cov=lr_cov, damping=damping, momentum=momentum,
                                      weight_decay=weight_decay, batch_size=batch_size, s_init=s_init,
                                      batch_scaling=batch_scaling))

    def _update(self, group):
        bf = group["batch_size"] if group["batch_scaling"] else 1
        sq0 = 1 / bf if group["s_init"] == "ones" else 0.0
        params, grads, states = self._gather(group, lambda p: dict(sq=torch.full_like(p, sq0)))
        if not params:
            return
        lr, lr_cov, wd, momentum = group["lr"], group["lr_cov"], group["weight_decay"], group["momentum"]
        sq = [s["sq"] for s in states]
        torch._foreach_mul_(sq, 1 - lr_cov)
        torch._foreach_addcmul_(sq, grads, grads, lr_cov)
        denom = torch._foreach_mul(sq, bf)
        torch._foreach_add_(denom, group["damping"])
        if wd == 0 and momentum == 0:
            torch._foreach_addcdiv_(params, grads, denom, -lr)
            return
        u = torch._foreach_div(grads, denom)
        if wd != 0:  # post-preconditioning
            torch._foreach_add_(u, params, alpha=wd)
        if momentum != 0:
            buffers = [s.setdefault("momentum_buffer", torch.zeros_like(p)) for s, p in zip(states, params)]
            torch._foreach_mul_(buffers, momentum)
            torch._foreach_add_(buffers, u)
            u = buffers
        torch._foreach_add_(params, u, alpha=-lr)


class RfAdamW(_PaperOptimizer):
    """Section 8.2: theta -= (lr/bc1) * m / (Bf*v/bc2 + eps), v starting at 1/Bf."""

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-4, weight_decay=0.0, batch_size=None,
                 bias_correction=False, v_init="ones", batch_scaling=True):
        if batch_size is None:
            raise ValueError("rf_adamw: batch_size is required")
        super().__init__(params, dict(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                                      batch_size=batch_size, bias_correction=bias_correction, v_init=v_init,
                                      batch_scaling=batch_scaling))

    def _update(self, group):
        bf = group["batch_size"] if group["batch_scaling"] else 1
        v0 = 1 / bf if group["v_init"] == "ones" else 0.0
        params, grads, states = self._gather(
            group, lambda p: dict(step=0, exp_avg=torch.zeros_like(p), exp_avg_sq=torch.full_like(p, v0)))
        if not params:
            return
        lr, b1, b2, wd = group["lr"], group["beta1"], group["beta2"], group["weight_decay"]
        if wd != 0:  # decoupled
            torch._foreach_mul_(params, 1 - lr * wd)
        m, v = _adam_moments(states, grads, b1, b2)
        corrected = group["bias_correction"]
        bc1 = [1 - b1 ** s["step"] if corrected else 1.0 for s in states]
        bc2 = [1 - b2 ** s["step"] if corrected else 1.0 for s in states]
        denom = torch._foreach_mul(v, [bf / b for b in bc2])
        torch._foreach_add_(denom, group["eps"])
        torch._foreach_addcdiv_(params, m, denom, [-lr / b for b in bc1])


_AB_COEFFICIENTS = {1: (1.0,), 2: (1.5, -0.5), 3: (23 / 12, -16 / 12, 5 / 12)}


class AdamsBashforth(_PaperOptimizer):
    """Section 6: ab2 (order=2) and ab3 (order=3, startup=lower_order): theta -= lr * sum_i c_i g_{t-i},
    with coupled weight decay; the first steps use the lower orders."""

    def __init__(self, params, lr=1e-2, weight_decay=0.0, order=2, startup="lower_order"):
        if order not in (2, 3) or startup != "lower_order":
            raise ValueError("AdamsBashforth: order 2 or 3, startup=lower_order")
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, order=order))

    def _update(self, group):
        params, grads, states = self._gather(group, lambda p: dict(step=0))
        if not params:
            return
        if group["weight_decay"] != 0:
            grads = torch._foreach_add(grads, params, alpha=group["weight_decay"])
        names = ("prev_grad", "prev_grad2")[:group["order"] - 1]  # g_{t-1}, g_{t-2}
        for s in states:
            s["step"] += 1
        orders = [min(s["step"], group["order"]) for s in states]
        for order in set(orders):
            index = [i for i, o in enumerate(orders) if o == order]
            history = [[grads[i] for i in index]] + [[states[i][n] for i in index] for n in names[:order - 1]]
            p = [params[i] for i in index]
            for c, g in zip(_AB_COEFFICIENTS[order], history):
                torch._foreach_add_(p, g, alpha=-group["lr"] * c)
        # Shift the history, reusing the oldest buffer for g_t.
        buffers = []
        for s, g in zip(states, grads):
            kept = [s[n] for n in names if n in s]
            buffers.append(kept.pop() if len(kept) == len(names) else torch.empty_like(g))
            s.update(zip(names, [buffers[-1]] + kept))
        _copy_(buffers, grads)


def ab2(params, lr=1e-2, weight_decay=0.0):
    return AdamsBashforth(params, lr=lr, weight_decay=weight_decay, order=2)


def ab3(params, lr=1e-2, weight_decay=0.0):
    return AdamsBashforth(params, lr=lr, weight_decay=weight_decay, order=3)


class IfShampoo(_PaperOptimizer):
    """Section 8.3, update_schedule=fixed, lr_cov_discount=1: per squeezed axis a factor K_n
    (K_n K_n^T ~ the inverse preconditioner), updated with matmuls every update_freq steps;
    P = G x_1 K_1 K_1^T ... x_N K_N K_N^T."""

    def __init__(self, params, lr=1e-3, lr_cov=1e-2, damping=1e-3, momentum=0.9, riemannian_momentum=0.5,
                 weight_decay=0.0, batch_size=None, update_freq=1, max_dense_dim=4096):
        if batch_size is None:
            raise ValueError("if_shampoo: batch_size is required")
        super().__init__(params, dict(lr=lr, lr_cov=lr_cov, damping=damping, momentum=momentum,
                                      riemannian_momentum=riemannian_momentum, weight_decay=weight_decay,
                                      batch_size=batch_size, update_freq=update_freq, max_dense_dim=max_dense_dim))

    def _begin_step(self):  # the global step s = 0, 1, ...
        self._s = self.state.get("step", 0)
        self.state["step"] = self._s + 1

    def _update(self, group):
        update = self._s % group["update_freq"] == 0
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            dims = [d for d in p.shape if d != 1] or [1]
            if not state:  # axes above max_dense_dim keep K = I: None
                dense = [d <= group["max_dense_dim"] for d in dims]
                options = dict(dtype=p.dtype, device=p.device)
                state["K"] = [torch.eye(d, **options) if ok else None for d, ok in zip(dims, dense)]
                state["mK"] = [torch.zeros(d, d, **options) if ok else None for d, ok in zip(dims, dense)]
            g = p.grad.reshape(dims)
            if update:
                self._update_factors(group, g, dims, state["K"], state["mK"])
            u = _mode_products(g, [None if k is None else k @ k.T for k in state["K"]]).reshape(p.shape)
            if group["weight_decay"] != 0:  # post-preconditioning
                u = u.add(p, alpha=group["weight_decay"])
            if group["momentum"] != 0:
                u = state.setdefault("momentum_buffer", torch.zeros_like(p)).mul_(group["momentum"]).add_(u)
            p.add_(u, alpha=-group["lr"])

    @staticmethod
    def _update_factors(group, g, dims, ks, mks):
        # Kt_n = K_n / sqrt(d_n), A_n = Kt_n^T Kt_n, tr_n = trace(A_n) / d_n, Y = S x_n Kt_n^T, all
        # from the factors before this update; an identity factor has Kt = I/sqrt(d), tr = 1/d.
        kt = [None if k is None else k / math.sqrt(d) for k, d in zip(ks, dims)]
        tr = [1 / d if k is None else (k * k).sum() / d for k, d in zip(kt, dims)]
        scale = math.sqrt(group["batch_size"]) / math.prod(math.sqrt(d) for k, d in zip(ks, dims) if k is None)
        y = _mode_products(g * scale, [None if k is None else k.T for k in kt])
        a2, lr_cov, total = group["riemannian_momentum"], group["lr_cov"], math.prod(dims)
        for n, (k, mk, d) in enumerate(zip(ks, mks, dims)):
            if k is None:
                continue
            others = group["damping"] / 2 * total * math.prod(t for j, t in enumerate(tr) if j != n)
            yn = y.movedim(n, 0).reshape(d, -1)
            step = torch.addmm(kt[n].T @ kt[n] * others, yn, yn.T, alpha=d / 2)
            step.diagonal().sub_(0.5)
            if a2 == 0:
                mk.copy_(step)
            else:
                mk.mul_(a2).add_(step, alpha=1 - a2)
            k.sub_(lr_cov / torch.linalg.matrix_norm(mk).clamp(min=1) * (k @ mk))


def _inverse_root(matrix, root, epsilon):
    lam, q = torch.linalg.eigh(matrix)
    lam = lam - lam.min().clamp(max=0) + epsilon
    return (q * lam.pow(-1 / root)) @ q.T


class Shampoo(_PaperOptimizer):
    """Section 8.4: per-axis statistics L_k (float64), their inverse 2N-th roots by eigh every
    precondition_frequency steps; tensors with an axis over max_preconditioner_dim fall back to
    a diagonal preconditioner."""

    def __init__(self, params, lr=1e-2, beta1=0.9, beta2=1.0, epsilon=1e-12, momentum=0.0, nesterov=False,
                 weight_decay=0.0, decoupled_weight_decay=True, precondition_frequency=1, start_preconditioning_step=-1,
                 bias_correction=True, max_preconditioner_dim=1024, exponent_override=0.0):
        super().__init__(params, dict(lr=lr, beta1=beta1, beta2=beta2, epsilon=epsilon, momentum=momentum,
                                      nesterov=nesterov, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      precondition_frequency=precondition_frequency,
                                      start_preconditioning_step=start_preconditioning_step,
                                      bias_correction=bias_correction, max_preconditioner_dim=max_preconditioner_dim,
                                      exponent_override=exponent_override))

    def _begin_step(self):  # the global t = 1, 2, ...
        self.state["step"] = self._t = self.state.get("step", 0) + 1

    def _update(self, group):
        t, lr, b1, b2, eps = self._t, group["lr"], group["beta1"], group["beta2"], group["epsilon"]
        wd, momentum, corrected = group["weight_decay"], group["momentum"], group["bias_correction"]
        frequency = group["precondition_frequency"]
        start = frequency if group["start_preconditioning_step"] == -1 else group["start_preconditioning_step"]
        bc2 = 1 - b2 ** t if corrected and b2 < 1 else 1.0
        for p in group["params"]:
            if p.grad is None:
                continue
            state, g = self.state[p], p.grad
            if wd != 0 and not group["decoupled_weight_decay"]:
                g = g.add(p, alpha=wd)
            full = all(d <= group["max_preconditioner_dim"] for d in p.shape)
            if full:
                if "L" not in state:
                    state["L"] = [torch.zeros(d, d, dtype=torch.float64, device=p.device) for d in p.shape]
                    state["Linv"] = [None] * p.dim()  # identity until first computed
                g64 = g.double()
                for k, factor in enumerate(state["L"]):
                    unfolded = g64.movedim(k, 0).reshape(factor.shape[0], -1)
                    if b2 < 1:
                        factor.mul_(b2).addmm_(unfolded, unfolded.T, alpha=1 - b2)
                    else:
                        factor.addmm_(unfolded, unfolded.T)
                if t % frequency == 0 and t >= start:
                    root = group["exponent_override"] or 2 * p.dim()
                    state["Linv"] = [_inverse_root(factor / bc2, root, eps) for factor in state["L"]]
            else:
                v = state.setdefault("exp_avg_sq", torch.zeros_like(p))
                if b2 < 1:
                    v.mul_(b2).addcmul_(g, g, value=1 - b2)
                else:
                    v.addcmul_(g, g)
            d = g
            if b1 != 0:
                f = state.setdefault("exp_avg", torch.zeros_like(p)).mul_(b1).add_(g, alpha=1 - b1)
                d = f / (1 - b1 ** t) if corrected else f
            if not full:
                d = d / (v / bc2).sqrt_().add_(eps)
            elif t >= start:
                d = _mode_products(d.double(), state["Linv"]).to(p.dtype)
            if wd != 0 and group["decoupled_weight_decay"]:
                if momentum == 0:
                    p.mul_(1 - lr * wd)
                else:
                    d = d.add(p, alpha=wd)
            if momentum != 0:
                buf = state.setdefault("momentum_buffer", torch.zeros_like(p)).mul_(momentum).add_(d)
                d = d.add(buf, alpha=momentum) if group["nesterov"] else buf
            p.add_(d, alpha=-lr)
