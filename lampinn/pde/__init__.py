"""PDE families as tasks: the family interface and the three benchmark families."""
from __future__ import annotations

from .base import Family, Solution, as_param, evaluate, latin_hypercube, mse, predict, tensor_grid
from .designs import draw_ood, draw_unseen, from_unit, to_unit
from .burgers import Burgers
from .elasticity import Elasticity
from .helmholtz import Helmholtz

FAMILIES: dict[str, Family] = {f.name: f for f in (Burgers(), Helmholtz(), Elasticity())}


def get_family(name: str) -> Family:
    """The benchmark family called ``name``: one of ``"burgers"``, ``"helmholtz"``, ``"elasticity"``."""
    try:
        return FAMILIES[name.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"unknown family {name!r}; expected one of {', '.join(sorted(FAMILIES))}") from None


# Everything a family of your own needs (chapter 14) is importable from here.
__all__ = [
    "FAMILIES", "Burgers", "Elasticity", "Family", "Helmholtz", "Solution", "as_param", "draw_ood", "draw_unseen",
    "evaluate", "from_unit", "get_family", "latin_hypercube", "mse", "predict", "tensor_grid", "to_unit",
]
