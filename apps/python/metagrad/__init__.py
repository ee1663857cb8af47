"""metagrad's optimizers from Python.

metagrad.torch.Optimizer(params, spec) is a torch.optim.Optimizer whose step
runs metagrad's fused C++ step on the tensors' own memory: every classic
optimizer, the research papers' optimizers and the learned ones, by spec
string ("adam(lr=1e-3)", "general", "lstm(weights=PATH)").
"""
from ._metagrad import Error, __version__, get_num_threads, set_num_threads
from ._metagrad import optimizers as _optimizers


def optimizers():
    """Every optimizer metagrad has, as `metagrad optimizers` lists them: a list
    of dicts with its name, a one-line summary, its hyperparameters' defaults
    (None: the key is required) and the spec string with every default."""
    return _optimizers()


__all__ = ["Error", "__version__", "optimizers", "set_num_threads", "get_num_threads"]
