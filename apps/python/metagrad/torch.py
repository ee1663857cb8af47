"""metagrad's optimizers as torch.optim.Optimizer.

    opt = metagrad.torch.Optimizer(model.parameters(), "adam(lr=1e-3)")
    opt = metagrad.torch.Optimizer([{"params": weights}, {"params": biases, "weight_decay": 0}], "adamw")
    opt = metagrad.torch.Optimizer(model.named_parameters(), "general")   # the shipped learned optimizer

Each step runs metagrad's fused C++ step directly on the tensors' memory
(CPU, contiguous, float32 or float64): nothing is copied. A parameter group's
keys other than "params" are the spec's keys for that group; after
construction every group shows all of its resolved hyperparameters, and the
numeric ones may be changed between steps (torch's lr_scheduler does). Names
(from named_parameters or (name, tensor) pairs) are what wd_exclude matches.
Optimizers that evaluate the gradient at other points (heun, rk4, ab3's rk4
start, rllc's corrections) need a closure, as torch's LBFGS does.
"""
import torch

from . import _metagrad
from ._metagrad import Error

_DTYPE_NAMES = {torch.float32: "float32", torch.float64: "float64"}


def _spec_text(value):
    """A Python value as spec text ("1e-3", "true", "bias:bn", "0.9:0.5")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, torch.Tensor):
        value = value.item()
    if isinstance(value, (int, float)):
        return repr(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, (list, tuple)):
        return ":".join(_spec_text(v) for v in value)
    return str(value)


def _split_names(params):
    """torch's params argument (tensors, (name, tensor) pairs, or group dicts)
    as group dicts of tensors, and the names of their parameters."""
    if isinstance(params, torch.Tensor):
        raise TypeError("metagrad.torch.Optimizer: params should be an iterable of tensors or dicts, "
                        "not a tensor")
    params = list(params)
    if params and not isinstance(params[0], dict):
        params = [{"params": params}]
    groups, names, count = [], [], 0
    for group in params:
        group = dict(group)
        entries = group["params"]
        entries = [entries] if isinstance(entries, torch.Tensor) else list(entries)
        tensors, group_names = [], []
        for entry in entries:
            named = isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str)
            tensors.append(entry[1] if named else entry)
            group_names.append(entry[0] if named else "param%d" % count)
            count += 1
        group["params"] = tensors
        groups.append(group)
        names.append(group_names)
    flat = [name for group_names in names for name in group_names]
    if len(set(flat)) != len(flat):
        raise Error("metagrad.torch.Optimizer: parameter names repeat: %s" % sorted(
            {n for n in flat if flat.count(n) > 1}))
    return groups, names


def _check_memory(tensor, what):
    """A tensor metagrad can step in place, else one clear line naming it."""
    if not isinstance(tensor, torch.Tensor):
        raise Error("metagrad: %s is a %s, not a torch.Tensor" % (what, type(tensor).__name__))
    if tensor.device.type != "cpu":
        raise Error("metagrad: %s is on %s; metagrad steps CPU tensors" % (what, tensor.device))
    if tensor.layout != torch.strided:
        raise Error("metagrad: %s is %s; metagrad steps dense tensors" % (what, tensor.layout))
    if tensor.dtype not in _DTYPE_NAMES:
        raise Error("metagrad: %s is %s; metagrad steps float32 or float64 tensors" % (what, tensor.dtype))
    if not tensor.is_contiguous():
        raise Error("metagrad: %s is not contiguous (shape %s, strides %s); metagrad steps a tensor's memory "
                    "in place and needs it contiguous" % (what, list(tensor.shape), list(tensor.stride())))


class Optimizer(torch.optim.Optimizer):
    """A metagrad optimizer, by spec string, over PyTorch parameters."""

    def __init__(self, params, spec):
        groups, self._names = _split_names(params)
        self._flat_names = [name for names in self._names for name in names]  # parameter index -> name
        super().__init__(groups, {})
        self.spec = spec
        views, overrides = [], []
        for g, group in enumerate(self.param_groups):
            for p, name in zip(group["params"], self._names[g]):
                _check_memory(p, "parameter '%s'" % name)
            views.append([(name, p.data_ptr(), list(p.shape), _DTYPE_NAMES[p.dtype])
                          for p, name in zip(group["params"], self._names[g])])
            overrides.append([(key, _spec_text(value)) for key, value in group.items() if key != "params"])
        self._native = _metagrad.NativeOptimizer(spec, views, overrides)
        # What each group's keys were last set to, in metagrad.
        self._resolved = [self._native.hyperparameters(g) for g in range(len(self.param_groups))]
        for group, resolved in zip(self.param_groups, self._resolved):
            group.update(resolved)

    @property
    def requires_closure(self):
        return self._native.requires_closure

    def add_param_group(self, param_group):
        if hasattr(self, "_native"):
            raise Error("metagrad.torch.Optimizer: give every parameter group when making the optimizer")
        super().add_param_group(param_group)

    def step(self, closure=None):
        """One step of every parameter that has a gradient; with a closure
        (which zeroes the gradients, computes the loss, calls backward and
        returns the loss), calls it first and returns its loss."""
        self._push_hyperparameters()
        if closure is None:
            return self._native.step(self._locate, None)

        def evaluate():
            with torch.enable_grad():
                return closure()

        return self._native.step(self._locate, evaluate)

    def _locate(self):
        """Where every parameter and its gradient are, checked."""
        out = []
        for group, names in zip(self.param_groups, self._names):
            for p, name in zip(group["params"], names):
                _check_memory(p, "parameter '%s'" % name)
                grad = p.grad
                if grad is None:
                    out.append((p.data_ptr(), 0))
                    continue
                _check_memory(grad, "the gradient of '%s'" % name)
                if grad.dtype != p.dtype or grad.shape != p.shape:
                    raise Error("metagrad: the gradient of '%s' is %s %s, expected %s %s like the parameter" %
                                (name, grad.dtype, list(grad.shape), p.dtype, list(p.shape)))
                out.append((p.data_ptr(), grad.data_ptr()))
        return out

    def _push_hyperparameters(self):
        """Numeric keys changed in param_groups (by a schedule) reach metagrad."""
        for g, (group, resolved) in enumerate(zip(self.param_groups, self._resolved)):
            for key, value in resolved.items():
                current = group.get(key)
                if current == value:
                    continue
                if isinstance(value, bool) or not isinstance(value, float):
                    raise Error("metagrad.torch.Optimizer: '%s' of group %d is fixed when the optimizer is made "
                                "(it was %r, now %r)" % (key, g, value, current))
                number = float(current.item() if isinstance(current, torch.Tensor) else current)
                self._native.set_hyperparameter(g, key, number)
                resolved[key] = number

    def state_dict(self):
        """torch's layout: "state" (per parameter index: "step" and metagrad's
        state tensors), "param_groups" (hyperparameters, parameter indices),
        and "metagrad" (spec, names, optimizer-wide state)."""
        index = {name: i for i, name in enumerate(self._flat_names)}
        state, extra = {}, {}
        for key, array in self._native.state_dict().items():
            tensor = torch.from_numpy(array)
            if key.startswith("state."):
                name, field = key[len("state."):].rsplit(".", 1)
                state.setdefault(index[name], {})[field] = tensor
            elif not key.startswith("group."):  # the groups' values are in param_groups
                extra[key] = tensor
        groups, start = [], 0
        for group in self.param_groups:
            packed = {key: value for key, value in group.items() if key != "params"}
            packed["params"] = list(range(start, start + len(group["params"])))
            start += len(group["params"])
            groups.append(packed)
        return {"state": state, "param_groups": groups,
                "metagrad": {"spec": self.spec, "names": list(self._flat_names), **extra}}

    def load_state_dict(self, state_dict):
        """Checked as a whole before anything changes; a fresh optimizer that
        loads a state continues exactly as the one that saved it."""
        groups = state_dict.get("param_groups", [])
        sizes = [len(group["params"]) for group in self.param_groups]
        if [len(group.get("params", [])) for group in groups] != sizes:
            raise Error("metagrad.torch.Optimizer: the state's parameter groups have %s parameters, this "
                        "optimizer's %s" % ([len(group.get("params", [])) for group in groups], sizes))
        names = self._flat_names
        flat = []
        for key, tensor in state_dict.get("metagrad", {}).items():
            if key not in ("spec", "names"):
                flat.append((key, _as_numpy(tensor)))
        for g, group in enumerate(groups):
            for key, value in group.items():
                if isinstance(self._resolved[g].get(key), float) and not isinstance(value, bool):
                    flat.append(("group.%d.%s" % (g, key), _as_numpy(torch.tensor(float(value), dtype=torch.float64))))
        for i, fields in state_dict.get("state", {}).items():
            if not 0 <= int(i) < len(names):
                raise Error("metagrad.torch.Optimizer: the state names parameter %s of %d" % (i, len(names)))
            for field, tensor in fields.items():
                flat.append(("state.%s.%s" % (names[int(i)], field), _as_numpy(tensor)))
        self._native.load_state_dict(flat)
        for g, group in enumerate(self.param_groups):
            self._resolved[g] = self._native.hyperparameters(g)
            group.update(self._resolved[g])


def _as_numpy(value):
    tensor = value if isinstance(value, torch.Tensor) else torch.tensor(value)
    return tensor.detach().cpu().contiguous().numpy()
