"""Networks: the multilayer perceptron behind every PINN in the book (chapter 1), its task-batched stack
(chapter 3), LAM-PINN's modular network (chapter 7), and device and seeding helpers."""
from __future__ import annotations

import hashlib
import math
import os
import random
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from . import autodiff, settings
from .autodiff import Jet, Pairs
from .files import atomic_write

#: The largest networks built here: sizes are checked against these before any weight is allocated.
LIMITS = {"in_dim": 16, "out_dim": 16, "width": 4096, "depth": 64, "meta_depth": 64, "n_clusters": 64}


def check_size(name: str, value, low: int = 1) -> int:
    """``value`` if it is a whole number in ``[low, LIMITS[name]]``; else a one-line ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= LIMITS[name]:
        raise ValueError(f"{name} = {value!r} is invalid; expected a whole number in [{low}, {LIMITS[name]}]")
    return int(value)


def check_bounds(input_bounds, in_dim: int) -> list[tuple[float, float]]:
    """One finite ``(low, high)`` with ``low < high`` per input; else a one-line ``ValueError``."""
    if input_bounds is None:
        return [(-1.0, 1.0)] * in_dim
    try:
        bounds = [(float(lo), float(hi)) for lo, hi in input_bounds]
    except (TypeError, ValueError):
        raise ValueError(f"input_bounds = {input_bounds!r} is invalid; expected one (low, high) pair per input") from None
    if len(bounds) != in_dim:
        raise ValueError(f"input_bounds has {len(bounds)} intervals, expected one per input ({in_dim})")
    for lo, hi in bounds:
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"input_bounds interval ({lo}, {hi}) is invalid; expected finite numbers with low < high")
    return bounds


def check_device(device: str | torch.device | None) -> torch.device:
    """The device to use (:func:`default_device`) if this PyTorch build can use it; else a one-line ``ValueError``."""
    try:
        dev = default_device(device)
    except RuntimeError as err:
        raise ValueError(f"device {device!r} is not a device ({str(err).splitlines()[0]})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} is not available: this PyTorch ({torch.__version__}) sees no CUDA device; use cpu")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device {device!r} is not supported; expected cpu or cuda")
    return dev


def state_sha256(state: dict[str, torch.Tensor]) -> str:
    """The SHA-256 of a state dict's names, dtypes, shapes and values (stored in checkpoints, checked on load)."""
    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k].detach().cpu().contiguous()
        h.update(f"{k}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()


def save_state(model: nn.Module, path: str | os.PathLike) -> None:
    """Write a network's weights with their SHA-256 (format ``lampinn-state-1``), atomically."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    blob = {"format": "lampinn-state-1", "sha256": state_sha256(state), "state": state}
    atomic_write(path, lambda fh: torch.save(blob, fh))


def load_state(model: nn.Module, path: str | os.PathLike) -> None:
    """Load weights written by :func:`save_state` into ``model``; a one-line ``ValueError`` naming the file if it
    is unreadable, of another format, altered (SHA-256) or of another network."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as err:
        raise ValueError(f"{path}: not a readable weights file ({type(err).__name__})") from None
    if not isinstance(blob, dict) or blob.get("format") != "lampinn-state-1" or set(blob) != {"format", "sha256", "state"}:
        raise ValueError(f"{path}: not a weights file of format 'lampinn-state-1'")
    if not isinstance(blob["state"], dict) or state_sha256(blob["state"]) != blob["sha256"]:
        raise ValueError(f"{path}: the weights' SHA-256 does not match the one stored: the file is corrupt")
    try:
        model.load_state_dict(blob["state"])
    except RuntimeError:
        raise ValueError(f"{path}: the weights do not match the network") from None


class Sine(nn.Module):
    """sin(x) as a module, for SIREN-style networks."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x)


ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "sin": Sine, "gelu": nn.GELU, "silu": nn.SiLU}


def default_device(device: str | torch.device | None = None) -> torch.device:
    """The device to use: the one given, else the book's one choice, :func:`lampinn.settings.device`
    (CUDA when available, else the CPU, unless set)."""
    return torch.device(device if device is not None else settings.device())


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so that a run repeats exactly on the CPU."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class MLP(nn.Module):
    """A fully connected network ``in_dim -> width x depth -> out_dim`` with Xavier-initialised weights.

    ``input_bounds`` (one ``(low, high)`` per input) makes the first operation an affine map of
    that box onto ``[-1, 1]``, so a problem posed on ``[0, 10]^2`` needs no hand scaling.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        width: int = 50,
        depth: int = 4,
        activation: str = "tanh",
        input_bounds: Sequence[tuple[float, float]] | None = None,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}")
        for name, value in (("in_dim", in_dim), ("out_dim", out_dim), ("width", width), ("depth", depth)):
            check_size(name, value)
        input_bounds = check_bounds(input_bounds, in_dim)
        self.config = {"in_dim": in_dim, "out_dim": out_dim, "width": width, "depth": depth, "activation": activation,
                       "input_bounds": [tuple(map(float, b)) for b in input_bounds]}  # enough to rebuild it
        low = torch.tensor([b[0] for b in input_bounds], dtype=torch.float32)
        high = torch.tensor([b[1] for b in input_bounds], dtype=torch.float32)
        self.register_buffer("shift", (high + low) / 2)
        self.register_buffer("scale", 2 / (high - low))
        sizes = [in_dim] + [width] * depth
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), ACTIVATIONS[activation]()]
        layers.append(nn.Linear(sizes[-1], out_dim))
        self.net = nn.Sequential(*layers)
        for m in self.net:
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map points ``x`` of shape ``(..., in_dim)`` to outputs ``(..., out_dim)``."""
        return self.net((x - self.shift) * self.scale)

    def jet(self, x: torch.Tensor, pairs: Pairs) -> Jet:
        """The output with its derivatives (:func:`lampinn.autodiff.derivatives`), carried forward for tanh."""
        if self.config["activation"] != "tanh":
            return autodiff.autograd_jet(self, x, pairs)
        streams = autodiff.seed(x, self.shift, self.scale, pairs)
        return autodiff.to_jet(autodiff.sequential(self.net, streams, pairs), pairs)


def _tanh_block(sizes: Sequence[int], dropout: float = 0.0) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.Tanh()] + ([nn.Dropout(dropout)] if dropout > 0 else [])
    return nn.Sequential(*layers)


class ModularPINN(nn.Module):
    """LAM-PINN's network: a shared basis, one subnetwork per task cluster mixed by gates, a shared meta network.

        h(x) = basis(x) + sum_j clamp(g_j, 0, 1) * sub_j(x),     u(x) = s * meta(h(x)).

    basis and every sub_j are ``in_dim -> width -> width`` tanh networks (the subnetworks with
    dropout); meta is ``meta_depth`` tanh layers of ``width`` then a linear layer to ``out_dim``.
    ``gates`` holds one scalar per cluster, initialised at 0.5; the forward pass clamps it to [0, 1].
    With ``normalize``, h(x) is divided by 1 + sum_j g_j, so the meta network's input stays within
    [-1, 1] whatever the number of clusters and the gates (beyond the paper). ``s`` is the task's
    output scale (:meth:`set_scale`, default 1; not saved): the network predicts u / s.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        n_clusters: int,
        width: int = 64,
        meta_depth: int = 3,
        dropout: float = 0.2,
        input_bounds: Sequence[tuple[float, float]] | None = None,
        normalize: bool = False,
    ) -> None:
        super().__init__()
        for name, value in (("in_dim", in_dim), ("out_dim", out_dim), ("n_clusters", n_clusters), ("width", width),
                            ("meta_depth", meta_depth)):
            check_size(name, value)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        scaler = MLP(in_dim, out_dim, 1, 1, input_bounds=input_bounds)  # reuse its input scaling
        self.register_buffer("shift", scaler.shift)
        self.register_buffer("scale", scaler.scale)
        if not isinstance(normalize, bool):
            raise ValueError(f"normalize must be True or False, got {normalize!r}")
        self.register_buffer("out_scale", torch.ones(out_dim), persistent=False)
        self.config = {"in_dim": in_dim, "out_dim": out_dim, "n_clusters": n_clusters, "width": width,
                       "meta_depth": meta_depth, "dropout": dropout, "input_bounds": scaler.config["input_bounds"],
                       "normalize": normalize}
        self.basis = _tanh_block([in_dim, width, width])
        self.subnets = nn.ModuleList(_tanh_block([in_dim, width, width], dropout) for _ in range(n_clusters))
        self.meta = nn.Sequential(*_tanh_block([width] * (meta_depth + 1)), nn.Linear(width, out_dim))
        self.gates = nn.Parameter(torch.full((n_clusters,), 0.5))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)

    @property
    def n_clusters(self) -> int:
        return len(self.subnets)

    def features(self, x: torch.Tensor, gates: torch.Tensor | None = None) -> torch.Tensor:
        """The routed representation h(x) that the meta network reads (``gates`` overrides the learned ones)."""
        xs = (x - self.shift) * self.scale
        g = (self.gates if gates is None else gates).clamp(0.0, 1.0)
        h = self.basis(xs) + sum(g[j] * sub(xs) for j, sub in enumerate(self.subnets))
        return h / (1 + g.sum()) if self.config["normalize"] else h

    def forward(self, x: torch.Tensor, gates: torch.Tensor | None = None, scale: torch.Tensor | None = None) -> torch.Tensor:
        """u(x) with the given ``gates`` and output ``scale`` (defaults: the network's own)."""
        return self.meta(self.features(x, gates)) * (self.out_scale if scale is None else scale)

    def jet(self, x: torch.Tensor, pairs: Pairs, gates: torch.Tensor | None = None,
            scale: torch.Tensor | None = None) -> Jet:
        """u(x) as :meth:`forward` gives it, with its derivatives carried forward (:func:`lampinn.autodiff.derivatives`)."""
        inp = autodiff.seed(x, self.shift, self.scale, pairs)
        g = (self.gates if gates is None else gates).clamp(0.0, 1.0)
        h = autodiff.combine(autodiff.sequential(self.basis, inp, pairs), g.unbind(),
                             [autodiff.sequential(sub, inp, pairs) for sub in self.subnets])
        if self.config["normalize"]:
            norm = 1 + g.sum()
            h = tuple(part / norm for part in h)
        out = autodiff.sequential(self.meta, h, pairs)
        return autodiff.to_jet(out, pairs, self.out_scale if scale is None else scale)

    def routed(self, gates: torch.Tensor | None = None, scale: torch.Tensor | None = None) -> Bound:
        """The network as ``x -> u`` with these ``gates`` and output ``scale``, keeping its derivative engine."""
        return Bound(lambda x: self(x, gates, scale), lambda x, pairs: self.jet(x, pairs, gates, scale))

    def set_scale(self, values: Sequence[float]) -> None:
        """Set the output scale s (one value per output), e.g. the task's :meth:`~lampinn.pde.base.Family.output_scale`."""
        with torch.no_grad():
            self.out_scale.copy_(torch.as_tensor(np.asarray(values, dtype=float), dtype=self.out_scale.dtype))

    def set_gates(self, values: Sequence[float]) -> None:
        """Set the gates (e.g. one cluster open at 1, the others at 0.1)."""
        with torch.no_grad():
            self.gates.copy_(torch.as_tensor(values, dtype=self.gates.dtype))


class StackedMLP(nn.Module):
    """``T`` copies of an :class:`~lampinn.nn.MLP` architecture with independent weights.

    Maps points ``(T, N, in_dim)`` to ``(T, N, out_dim)``: task ``t``'s network sees only
    ``x[t]``. Weights are stored transposed, ``(T, fan_in, fan_out)``, with biases ``(T, 1, fan_out)``.
    """

    def __init__(self, mlps: Sequence[MLP]) -> None:
        super().__init__()
        if not mlps:
            raise ValueError("StackedMLP needs at least one network")
        first = mlps[0]
        self.register_buffer("shift", first.shift.clone())
        self.register_buffer("scale", first.scale.clone())
        self.act = first.net[1]
        linears = [[m for m in mlp.net if isinstance(m, nn.Linear)] for mlp in mlps]
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.stack([ls[i].weight.detach().T for ls in linears])) for i in range(len(linears[0]))]
        )
        self.biases = nn.ParameterList(
            [nn.Parameter(torch.stack([ls[i].bias.detach()[None] for ls in linears])) for i in range(len(linears[0]))]
        )
        self.config = dict(first.config)

    @classmethod
    def replicate(cls, mlp: MLP, n_tasks: int) -> StackedMLP:
        """``n_tasks`` copies of one network, e.g. a meta-learned initialisation to adapt from."""
        return cls([mlp] * n_tasks)

    @property
    def n_tasks(self) -> int:
        return self.weights[0].shape[0]

    def params(self) -> list[torch.Tensor]:
        """The parameters in forward order ``[W0, b0, W1, b1, ...]``."""
        return [p for pair in zip(self.weights, self.biases) for p in pair]

    def forward_with(self, params: Sequence[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """The forward pass with the given stacked parameters (for meta-learning's inner loops)."""
        h = (x - self.shift) * self.scale
        n_layers = len(params) // 2
        for i in range(n_layers):
            h = torch.baddbmm(params[2 * i + 1], h, params[2 * i])
            if i < n_layers - 1:
                h = self.act(h)
        return h

    def jet_with(self, params: Sequence[torch.Tensor], x: torch.Tensor, pairs: Pairs) -> Jet:
        """:meth:`forward_with`'s output with its derivatives carried forward (:func:`lampinn.autodiff.derivatives`)."""
        if not isinstance(self.act, nn.Tanh):
            return autodiff.autograd_jet(lambda y: self.forward_with(params, y), x, pairs)
        streams = autodiff.seed(x, self.shift, self.scale, pairs)
        n_layers = len(params) // 2
        for i in range(n_layers):
            w, b = params[2 * i], params[2 * i + 1]
            v, F1, S = streams
            streams = torch.baddbmm(b, v, w), F1 @ w, S @ w
            if i < n_layers - 1:
                streams = autodiff.tanh(streams, pairs)
        return autodiff.to_jet(streams, pairs)

    def bind(self, params: Sequence[torch.Tensor]) -> Bound:
        """The stack with the given parameters as ``x -> u`` (meta-learning's inner loops), keeping its derivative engine."""
        return Bound(lambda x: self.forward_with(params, x), lambda x, pairs: self.jet_with(params, x, pairs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x)
        return self.forward_with(self.params(), x)

    def jet(self, x: torch.Tensor, pairs: Pairs) -> Jet:
        self._check(x)
        return self.jet_with(self.params(), x, pairs)

    def _check(self, x: torch.Tensor) -> None:
        if x.dim() != 3 or x.shape[0] != self.n_tasks:
            raise ValueError(f"expected points of shape ({self.n_tasks}, N, d), got {tuple(x.shape)}")

    def unstack(self) -> list[MLP]:
        """The ``T`` networks as separate :class:`~lampinn.nn.MLP` modules (copies)."""
        out = []
        for t in range(self.n_tasks):
            with torch.random.fork_rng(devices=[]):  # building a network must not move the global RNG
                mlp = MLP(**self.config).to(self.weights[0])
            linears = [m for m in mlp.net if isinstance(m, nn.Linear)]
            with torch.no_grad():
                for lin, w, b in zip(linears, self.weights, self.biases):
                    lin.weight.copy_(w[t].T)
                    lin.bias.copy_(b[t, 0])
            out.append(mlp)
        return out


class Bound:
    """A network with some of its forward arguments fixed, called as ``x -> u``, that still offers the network's
    derivative engine (``jet``) to :func:`lampinn.autodiff.derivatives`; a plain lambda would fall back to autograd."""

    def __init__(self, forward: Callable[[torch.Tensor], torch.Tensor],
                 jet: Callable[[torch.Tensor, Pairs], Jet]) -> None:
        self._forward, self.jet = forward, jet

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward(x)
