"""Combining a PINN's named loss terms into the number an optimiser minimises (chapter 1).

A family's ``loss_terms`` returns unweighted terms by name, one value per stacked task; the
weights say how they combine. Kept apart from the trainer so that the PDE families, the trainer
and the meta-learners all share one definition without importing each other.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch


def weighted_per_task(terms: Mapping[str, torch.Tensor], weights: Mapping[str, float] | None) -> torch.Tensor:
    """``sum_k weights[k] * terms[k]``, one value per stacked task; a term missing from ``weights`` has weight 1."""
    weights = weights or {}
    unknown = set(weights) - set(terms)
    if unknown:
        raise ValueError(f"weights name unknown loss terms {sorted(unknown)}; the terms are {sorted(terms)}")
    return sum(weights.get(name, 1.0) * value for name, value in terms.items())


def weighted_total(terms: Mapping[str, torch.Tensor], weights: Mapping[str, float] | None) -> torch.Tensor:
    """The scalar training loss: :func:`weighted_per_task`, summed over stacked tasks."""
    return weighted_per_task(terms, weights).sum()
