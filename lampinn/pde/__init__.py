"""PDE families as tasks: the family interface and the three benchmark families."""
from __future__ import annotations

from .base import Family, Solution, evaluate, predict, tensor_grid
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


__all__ = ["FAMILIES", "Burgers", "Elasticity", "Family", "Helmholtz", "Solution", "evaluate", "get_family", "predict", "tensor_grid"]
