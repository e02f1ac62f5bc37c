"""lampinn: the package behind the open course on meta-learned physics-informed neural networks."""
from __future__ import annotations

__version__ = "0.1.0"

from .autodiff import gradient, laplacian, partial  # noqa: E402
from .nn import MLP, ModularPINN, default_device, seed_everything  # noqa: E402
from .pde import Family, Solution, evaluate, get_family, predict  # noqa: E402
from .train import History, TrainingDiverged, train  # noqa: E402
from .core import LAMPINN, LAMPINNConfig  # noqa: E402

__all__ = [
    "LAMPINN", "LAMPINNConfig", "MLP", "ModularPINN", "Family", "History", "Solution", "TrainingDiverged", "__version__", "default_device", "evaluate",
    "get_family", "gradient", "laplacian", "partial", "predict", "seed_everything", "train",
]
