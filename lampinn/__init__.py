"""lampinn: the package behind the open course on meta-learned physics-informed neural networks."""
from __future__ import annotations

from .autodiff import gradient, laplacian, partial
from .nn import MLP, default_device, seed_everything
from .pde import Family, Solution, evaluate, get_family, predict
from .train import History, TrainingDiverged, train

__version__ = "0.1.0"

__all__ = [
    "MLP", "Family", "History", "Solution", "TrainingDiverged", "__version__", "default_device", "evaluate",
    "get_family", "gradient", "laplacian", "partial", "predict", "seed_everything", "train",
]
