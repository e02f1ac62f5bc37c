"""lampinn: the package behind the open course on meta-learned physics-informed neural networks."""
from __future__ import annotations

from ._version import __version__
from . import settings
from .autodiff import derivatives, gradient, laplacian, partial
from .nn import MLP, ModularPINN, default_device, seed_everything
from .pde import Family, Solution, evaluate, get_family, predict
from .train import History, TrainingDiverged, train
from .core import LAMPINN, LAMPINNConfig

settings.set_threads()  # the book's one thread policy (see lampinn.settings.threads)

__all__ = [
    "LAMPINN", "LAMPINNConfig", "MLP", "ModularPINN", "Family", "History", "Solution", "TrainingDiverged", "__version__", "default_device", "derivatives",
    "evaluate", "get_family", "gradient", "laplacian", "partial", "predict", "seed_everything", "settings", "train",
]
