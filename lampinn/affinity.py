"""Learning affinity and task clustering (chapters 5 and 6).

*Learning affinity* judges tasks by how they train, not by their parameters: from one pretrained
network, a brief transfer session on every training task records the loss curve, and its
initial, final and mean values (optionally its log-slope) become features of the task. With the
PDE parameters they form the *task representation*, which k-means clusters.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from torch import nn

from .loss import weighted_per_task
from .nn import StackedMLP
from .pde import Family
from .pde.designs import to_unit
from .protocol import Protocol
from .train import History, TrainingDiverged

FEATURE_NAMES = ("initial", "final", "mean", "log_slope")


@dataclass
class Sessions:
    """Loss curves of the brief transfer sessions: ``curves[t, i]`` is task t's weighted loss at step i."""

    tasks: np.ndarray
    curves: np.ndarray
    seconds: float

    def features(self, slope: bool = False) -> np.ndarray:
        """``(T, 3)`` initial, final and mean loss; with ``slope``, a 4th column: the fitted log10-loss slope per step."""
        c = self.curves
        cols = [c[:, 0], c[:, -1], c.mean(axis=1)]
        if slope:
            steps = np.arange(c.shape[1])
            cols.append(np.polyfit(steps, np.log10(c).T, 1)[0])
        return np.stack(cols, axis=1)


def learning_affinity(family: Family, source: nn.Module, tasks: np.ndarray, iters: int, protocol: Protocol) -> Sessions:
    """Fine-tune a copy of ``source`` on every task for ``iters`` Adam steps (all tasks at once) and record each curve."""
    if iters < 2:
        raise ValueError(f"a session needs at least 2 iterations, got {iters}")
    tasks = np.atleast_2d(tasks)
    pts = protocol.points(family, len(tasks))
    stack = StackedMLP.replicate(source, len(tasks)).to(pts["interior"].device)
    th = torch.as_tensor(tasks, dtype=torch.float32, device=pts["interior"].device)
    opt = torch.optim.Adam(stack.parameters(), lr=protocol.lr)
    curves = []
    start = time.perf_counter()
    for i in range(iters):
        per_task = weighted_per_task(family.loss_terms(stack, pts, th), family.loss_weights)
        if not torch.isfinite(per_task).all():
            raise TrainingDiverged(f"affinity session diverged at step {i} on tasks {np.flatnonzero(~torch.isfinite(per_task).cpu().numpy()).tolist()}", History())
        curves.append(per_task.detach().cpu().numpy())
        opt.zero_grad(set_to_none=True)
        per_task.sum().backward()
        opt.step()
    return Sessions(tasks, np.array(curves).T.astype(float), time.perf_counter() - start)


def representation(family: Family, tasks: np.ndarray, features: np.ndarray | None, use_params: bool = True) -> np.ndarray:
    """The standardised task representation, each column scaled to mean 0 and std 1.

    Columns: log10 of the initial, final and mean session loss (``features[:, :3]``), the log-slope
    if given (``features[:, 3]``, already logarithmic), then the parameters in unit coordinates
    (log scale for the family's ``log_params``).
    """
    parts = []
    if features is not None:
        f = np.array(features, dtype=float)
        f[:, :3] = np.log10(f[:, :3])
        parts.append(f)
    if use_params:
        parts.append(to_unit(family, tasks))
    if not parts:
        raise ValueError("a representation needs loss features, parameters or both")
    X = np.hstack(parts)
    std = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)


@dataclass
class Clustering:
    """k-means labels with the evidence for them: silhouette per K and stability across seeds (ARI)."""

    labels: np.ndarray
    k: int
    centers: np.ndarray
    silhouette: dict[int, float] = field(default_factory=dict)
    stability: list[float] = field(default_factory=list)  # ARI of each seed's labels against ``labels``


def cluster(X: np.ndarray, k: int | None = None, k_range: tuple[int, int] = (2, 6), seed: int = 0, n_seeds: int = 20) -> Clustering:
    """k-means on the representation ``X``; K by the best silhouette in ``k_range`` unless given."""
    X = np.asarray(X, dtype=float)
    scores = {}
    for kk in range(k_range[0], min(k_range[1], len(X) - 1) + 1):
        labels = KMeans(kk, n_init=10, random_state=seed).fit_predict(X)
        scores[kk] = float(silhouette_score(X, labels))
    if k is None:
        if not scores:
            raise ValueError(f"cannot choose K for {len(X)} tasks in the range {k_range}")
        k = max(scores, key=scores.get)
    if not 1 <= k <= len(X):
        raise ValueError(f"k = {k} clusters is impossible for {len(X)} tasks")
    km = KMeans(k, n_init=10, random_state=seed).fit(X)
    labels = _canonical(km.labels_)
    stability = [float(adjusted_rand_score(labels, KMeans(k, n_init=10, random_state=s).fit_predict(X)))
                 for s in range(seed + 1, seed + 1 + n_seeds)]
    centers = np.array([X[labels == j].mean(axis=0) for j in range(k)])
    return Clustering(labels, k, centers, scores, stability)


def _canonical(labels: np.ndarray) -> np.ndarray:
    """Relabel clusters in order of first appearance, so equal partitions get equal labels."""
    mapping: dict[int, int] = {}
    return np.array([mapping.setdefault(int(v), len(mapping)) for v in labels])


def visit_order(labels: np.ndarray, X: np.ndarray, anchor: int, balanced: bool = False, seed: int = 0) -> list[list[int]]:
    """Rounds of task indices: each round takes, from every cluster in turn, its next task nearest to
    task ``anchor`` in the representation (the published order: round-robin, nearest to the centre first).

    With ``balanced`` (the authors' released code), every cluster's queue is first padded to the largest
    cluster's size by drawing its own tasks again, with replacement and with probability proportional to one
    over their distance to the anchor, so every round visits every cluster once and small clusters are seen
    as often as large ones (a small cluster that holds the anchor repeats the anchor).
    """
    dist = np.linalg.norm(X - X[anchor], axis=1)
    queues = [sorted(np.flatnonzero(labels == j).tolist(), key=lambda i: dist[i]) for j in range(labels.max() + 1)]
    if balanced:
        rng, longest = np.random.default_rng(seed), max(len(q) for q in queues)
        for q in queues:
            weights = 1.0 / np.maximum(dist[q], 1e-8)
            q.extend(rng.choice(q, size=longest - len(q), p=weights / weights.sum()).tolist())
    rounds = []
    while any(queues):
        rounds.append([q.pop(0) for q in queues if q])
    return rounds
