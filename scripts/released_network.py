"""The authors' own starting network, adapted by this package: a check of our adaptation on their network.

The authors of LAM-PINN released their elasticity code (github bc0322/LAM-PINN) with one meta-trained starting
network, ``lam_pinn/pretrained/model_state_dict.pth``: a shared basis, three cluster subnetworks with their gates and a
meta network, reading raw (x, y) and predicting raw (u, v). That is the architecture of
:class:`lampinn.nn.ModularPINN` without input scaling or feature normalisation, so the file loads into one once its
keys are renamed (:func:`convert`).

This script adapts that network with this package, with no meta-training of ours, to each of the ten unseen
elasticity tasks, as the released adaptation does: gates reset to 0.5, basis frozen, Adam at 2e-3 on the
subnetworks and meta network and at 0.3 on the gates, gates clamped to [0, 1], every rate times 0.7 once the loss
has stalled for 150 steps, 10,000 interior points and 500 per edge (seed 42), and the released loss
(:class:`ReleasedLoss`; ``--loss ours`` takes the family's own). It measures the error on the family's grid every
few iterations, which gives the error at iteration 100, at the end, and the best one seen. The best is an oracle:
it picks the iteration by the reference solution, as the released code's ``best_mse`` does.

With ``--released-loop N`` it also runs the authors' own adaptation, imported from their checkout at run time, on
the first N tasks, from the same network, so that a reader sees whether the two implementations agree. Their loop
needs their requirements (PyYAML, pandas, scipy, matplotlib) and writes its run folders under ``--released-out``.

    git clone https://github.com/bc0322/LAM-PINN /tmp/released      # outside this repository
    python scripts/released_network.py --released /tmp/released
    python scripts/released_network.py --released /tmp/released --released-loop 10
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import hashlib
import importlib
import math
import re
import shlex
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

import lampinn
from lampinn.autodiff import derivatives
from lampinn.files import atomic_write, dumps
from lampinn.core import ADAPT_PATIENCE, RELEASED, LAMPINN, LAMPINNConfig
from lampinn.nn import ModularPINN, default_device
from lampinn.pde import Family, as_param, mse
from lampinn.pde.elasticity import Elasticity, stresses
from lampinn.protocol import trajectory
from lampinn.provenance import Stopwatch, git_state, provenance
from lampinn.train import TrainingDiverged

#: Where the shipped network lies inside a checkout of the released code.
SHIPPED = Path("lam_pinn") / "pretrained" / "model_state_dict.pth"
HOW_TO_GET = "git clone https://github.com/bc0322/LAM-PINN /tmp/released, then pass --released /tmp/released"
#: The iteration whose error the book quotes beside the final one (the adaptation budget of a short run).
QUOTED_ITER = 100


class Unavailable(Exception):
    """Something the script needs from the released checkout is not there; the message says what and how to get it."""


# ---- the released loss --------------------------------------------------------------------------------------------
class ReleasedLoss(Elasticity):
    """Elasticity with the released code's loss: the equilibrium residual, plus 50 x (the roller displacements, the
    free top edge, the loaded right edge, and the equilibrium residual on the top and right edge points).

    Two differences from :class:`~lampinn.pde.elasticity.Elasticity`: no ``rollers`` term (sigma_xy = 0 on the roller
    edges, which the released loss leaves out), and an ``edges`` term, the residual's sum of mean squares on each of
    the top and right edges.
    """

    name = "elasticity (released loss)"
    loss_weights = {"residual": 1.0, "dirichlet": 50.0, "top": 50.0, "right": 50.0, "edges": 50.0}

    def loss_terms(self, model, points: Mapping[str, torch.Tensor], theta) -> dict[str, torch.Tensor]:
        terms = dict(super().loss_terms(model, points, theta))
        del terms["rollers"]
        E = as_param(self.theta_tensor(theta, points["interior"]), 0)
        edges = ("top", "right")
        sizes = [points[name].shape[-2] for name in edges]
        jet = derivatives(model, torch.cat([points[name] for name in edges], dim=-2), second=[(0, 0), (0, 1), (1, 1)])
        (sxx_x, _, sxy_x), (_, syy_y, sxy_y) = stresses(jet, E, (0,)), stresses(jet, E, (1,))
        terms["edges"] = sum(mse(part) for div in (sxx_x + sxy_y, sxy_x + syy_y) for part in div.split(sizes, dim=-1))
        return terms


# ---- the shipped network ------------------------------------------------------------------------------------------
def shipped_file(checkout: str | Path | None) -> Path:
    """The shipped network's file inside ``checkout``; :class:`Unavailable` when either is missing."""
    if checkout is None:
        raise Unavailable(f"no --released checkout given: expected a checkout of the authors' code ({HOW_TO_GET})")
    root = Path(checkout)
    if not root.is_dir():
        raise Unavailable(f"{root}: no such folder; expected a checkout of the authors' code ({HOW_TO_GET})")
    path = root / SHIPPED
    if not path.is_file():
        raise Unavailable(f"{path}: no such file; expected the released network inside a checkout of the authors' "
                          f"code ({HOW_TO_GET})")
    return path


def load_shipped(path: str | Path) -> dict[str, torch.Tensor]:
    """The shipped file's state dict (read with ``weights_only``: nothing in it is executed)."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise Unavailable(f"{path}: not a readable PyTorch weights file ({type(err).__name__}: {err})") from None
    if isinstance(blob, dict) and "model_state_dict" in blob:
        blob = blob["model_state_dict"]
    if not isinstance(blob, dict):
        raise Unavailable(f"{path}: holds a {type(blob).__name__}; expected a state dict")
    return blob


#: Released key -> our key. Both the file's names (forward1..3, n0..2) and the names of their current class
#: (forward_nets.0..2, gates.0..2) are read; the gates are gathered separately.
_RENAMES = ((r"^basis\.net\.(.+)$", r"basis.\1"), (r"^backward\.net\.(.+)$", r"meta.\1"),
            (r"^forward(\d+)\.net\.(.+)$", lambda m: f"subnets.{int(m[1]) - 1}.{m[2]}"),
            (r"^forward_nets\.(\d+)\.net\.(.+)$", r"subnets.\1.\2"))
_GATE = re.compile(r"^(?:n|gates\.)(\d+)$")


def convert(state_dict: Mapping[str, torch.Tensor]) -> ModularPINN:
    """The released network as a :class:`~lampinn.nn.ModularPINN` on raw coordinates (shift 0, scale 1, no
    normalisation), its weights loaded strictly: ``basis.net.*`` -> ``basis.*``, ``forward{j+1}.net.*`` ->
    ``subnets.{j}.*``, ``backward.net.*`` -> ``meta.*``, and the gates ``n0, n1, ...`` -> ``gates``.

    Width, number of clusters and meta depth are read from the weights. The subnetworks keep dropout 0.2, as
    released (it only places their layers; the adaptation runs in evaluation mode, without dropout).
    """
    ours: dict[str, torch.Tensor] = {}
    gates: dict[int, torch.Tensor] = {}
    for key, value in state_dict.items():
        if (gate := _GATE.match(key)) is not None:
            gates[int(gate[1])] = value.reshape(1)
            continue
        for pattern, repl in _RENAMES:
            new, n = re.subn(pattern, repl, key)
            if n:
                ours[new] = value
                break
        else:
            raise ValueError(f"released key {key!r} is not one of a LAM-PINN SerialNetwork's; cannot convert it")
    k = len(gates)
    if k == 0 or sorted(gates) != list(range(k)):
        raise ValueError(f"the released gates are {sorted(gates)}; expected 0 .. K-1 (n0, n1, ...)")
    meta_layers = sorted(int(n.split(".")[1]) for n in ours if n.startswith("meta.") and n.endswith(".weight"))
    if "basis.0.weight" not in ours or len(meta_layers) < 2:
        raise ValueError("the released weights lack basis.net.0 or backward.net layers; not a LAM-PINN SerialNetwork")
    width, in_dim = ours["basis.0.weight"].shape
    out_dim = ours[f"meta.{meta_layers[-1]}.weight"].shape[0]
    model = ModularPINN(int(in_dim), int(out_dim), k, width=int(width), meta_depth=len(meta_layers) - 1, dropout=0.2,
                        input_bounds=None, normalize=False)
    ours["gates"] = torch.cat([gates[j] for j in range(k)])
    ours["shift"], ours["scale"] = torch.zeros(in_dim), torch.ones(in_dim)
    try:
        model.load_state_dict(ours, strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise ValueError(f"the released weights do not fit a ModularPINN after renaming: {first}") from None
    return model.eval()


@contextlib.contextmanager
def released_package(checkout: Path) -> Iterator[None]:
    """The checkout first on ``sys.path`` while inside; their package, ``lam_pinn``, stays imported afterwards."""
    sys.path.insert(0, str(checkout))
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(checkout))


def import_released(checkout: Path, module: str):
    """``lam_pinn.<module>`` from the checkout; :class:`Unavailable`, saying what is missing, if it does not import."""
    if not (checkout / "lam_pinn" / "__init__.py").is_file():
        raise Unavailable(f"{checkout}/lam_pinn/__init__.py: no such file; expected a checkout of the authors' code "
                          f"({HOW_TO_GET})")
    with released_package(checkout):
        try:
            mod = importlib.import_module(f"lam_pinn.{module}")
        except ImportError as err:
            raise Unavailable(f"cannot import lam_pinn.{module} from {checkout}: {err}. Their code needs its "
                              f"requirements.txt (PyYAML, pandas, scipy, matplotlib): pip install pandas pyyaml, or "
                              f"pip install --target DIR pandas and run with PYTHONPATH=DIR") from None
    if not Path(mod.__file__).resolve().is_relative_to(checkout.resolve()):
        raise Unavailable(f"lam_pinn was imported from {mod.__file__}, not from {checkout}: uninstall that copy")
    return mod


def forward_difference(checkout: Path, path: Path, model: ModularPINN, points: np.ndarray) -> dict:
    """Largest |u_ours - u_released| on ``points``, with the stored gates and with every gate at 0.5, the released
    network built by their own loader; ``{"error": why}`` when their package does not import."""
    try:
        checkpoints = import_released(checkout, "engine.checkpoints")
    except Unavailable as err:
        return {"error": str(err)}
    theirs, _ = checkpoints.load_checkpoint(path, device=torch.device("cpu"), dropout_override=0.0)
    theirs.eval()
    ours = copy.deepcopy(model).cpu().eval()
    x = torch.as_tensor(points, dtype=torch.float32)
    out = {}
    with torch.no_grad():
        out["stored_gates"] = [float(g) for g in ours.gates]
        out["max_abs_diff_stored_gates"] = float((ours(x) - theirs(x)).abs().max())
        ours.set_gates([0.5] * ours.n_clusters)
        theirs.reset_gates(0.5)
        out["max_abs_diff_gates_half"] = float((ours(x) - theirs(x)).abs().max())
        out["max_abs_output"] = float(theirs(x).abs().max())
    return out


# ---- our adaptation -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    """The adaptation, as released unless a flag says otherwise (its schedule and gates' reset are the package's:
    :data:`lampinn.core.ADAPT_PATIENCE`)."""

    iters: int = 1000
    every: int = 10
    n_interior: int = 10000
    n_boundary: int = 500
    seed: int = 42
    loss: str = "released"  # or "ours": the family's own loss
    lr: float = 2e-3  # subnetworks and meta network
    gate_lr: float = 0.3
    device: str | None = None


def loss_family(name: str) -> Family:
    if name == "released":
        return ReleasedLoss()
    if name == "ours":
        return lampinn.get_family("elasticity")
    raise ValueError(f"--loss {name!r}: expected 'released' or 'ours'")


def as_lampinn(start: ModularPINN, s: Settings) -> LAMPINN:
    """The converted network as a :class:`~lampinn.core.LAMPINN` that adapts as released, with no meta-training of
    ours: the released configuration (:data:`lampinn.core.RELEASED`: no output scale, the plateau schedule), the
    released rates, the chosen loss and these points."""
    family = loss_family(s.loss)
    config = LAMPINNConfig(**{**RELEASED, "n_clusters": start.n_clusters}, width=start.config["width"],
                           meta_depth=start.config["meta_depth"], adapt_lr=s.lr, adapt_gate_lr=s.gate_lr,
                           n_interior=s.n_interior, n_boundary=s.n_boundary, seed=s.seed, device=s.device)
    points = family.points(s.n_interior, s.n_boundary, seed=s.seed, device=s.device)
    return LAMPINN(config, family=family, model=start.to(default_device(s.device)), points=points)


def adapt(lam: LAMPINN, theta: np.ndarray, s: Settings) -> dict:
    """:meth:`lampinn.core.LAMPINN.adapt` on task ``theta`` for ``s.iters`` iterations (gates reset to 0.5, basis
    frozen, gates clamped, every rate x0.7 once the loss stalls for 150 iterations), the error on the family's grid
    measured every ``s.every`` iterations."""
    diverged = None
    try:
        adapted = lam.adapt(theta, iters=s.iters, every=s.every)
        hist, gates = adapted.history, adapted.gates
    except TrainingDiverged as err:
        hist, gates, diverged = err.history, [], str(err)
    iters, traj = sorted(hist.evaluations), trajectory(hist)
    errors, at = traj["curve"], hist.evaluations.get(QUOTED_ITER)
    return {"theta": [float(v) for v in theta], "mse_0": errors[0], f"mse_{QUOTED_ITER}": at[0] if at else None,
            "final_mse": errors[-1], "final_iter": iters[-1], "best_mse": traj["best_mse"],
            "best_iter": traj["best_iteration"],
            "loss_first": hist.total[0] if hist.total else None, "loss_last": hist.total[-1] if hist.total else None,
            "gates": [float(g) for g in gates], "seconds": hist.seconds,
            "seconds_per_iter": hist.seconds / max(1, len(hist.total)), "diverged": diverged,
            "curve": {"iter": iters, "mse": errors}}


# ---- the released loop --------------------------------------------------------------------------------------------
def released_config(checkout: Path, path: Path, case: int, s: Settings, out: Path):
    """Their adaptation config: their ``configs/adapt.yaml``, pointed at the shipped network, task ``case``
    (1-based) and ``out``, with our iterations and numbers of points (the defaults equal theirs)."""
    config = import_released(checkout, "config")
    cfg = config.load_adapt_config(checkout / "configs" / "adapt.yaml")
    cfg.checkpoint_path = str(path)
    cfg.output_root = str(out)
    cfg.run_name = f"case_{case:02d}"
    cfg.task.case_index = case
    cfg.task.eval_dir = str(checkout / "data" / "eval")
    cfg.optimization.epochs = s.iters
    cfg.sampling.num_domain_points = s.n_interior
    cfg.sampling.num_bc_points = s.n_boundary
    return cfg


def released_differences(cfg, s: Settings) -> list[str]:
    """Where their config's adaptation differs from ours (empty as released)."""
    o, m = cfg.optimization, cfg.model
    pairs = {"seed": (cfg.seed, s.seed), "lr_model": (o.lr_model, s.lr), "lr_gate": (o.lr_gate, s.gate_lr),
             "scheduler": ((o.scheduler_factor, o.scheduler_patience), (0.7, ADAPT_PATIENCE)),
             "gate_init": (m.gate_init, 0.5), "freeze_basis": (o.freeze_basis, True),
             "bc_scale": (o.bc_scale, 50.0), "dropout_p": (m.dropout_p, 0.0)}
    return [f"{k}: theirs {a!r}, ours {b!r}" for k, (a, b) in pairs.items() if a != b]


def run_released(checkout: Path, path: Path, case: int, s: Settings, out: Path) -> dict:
    """Their own adaptation of the shipped network to their case ``case`` (our unseen task ``case - 1``)."""
    adapt_module = import_released(checkout, "engine.adapt")
    cfg = released_config(checkout, path, case, s, out)
    deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        with released_package(checkout):
            summary = adapt_module.adapt_single_task(cfg, config_path=None)
    finally:
        torch.use_deterministic_algorithms(deterministic)  # their seeding switches it on for the whole process
    trace = Path(summary["run_dir"]) / "artifacts" / "adaptation_trace.csv"
    with open(trace, newline="", encoding="utf-8") as fh:
        rows = {int(r["epoch"]): r for r in csv.DictReader(fh)}
    at = rows.get(QUOTED_ITER)
    return {"theta": [summary["E"], summary["f"], summary["k"]], "mse_0": summary["mse_epoch0"],
            f"mse_{QUOTED_ITER}": float(at["deformation_mse"]) if at else None,
            "final_mse": summary["final_mse"], "best_mse": summary["best_mse"], "best_iter": summary["best_epoch"],
            "loss_first": float(rows[1]["loss"]) if 1 in rows else None,
            "loss_last": float(rows[s.iters]["loss"]) if s.iters in rows else None,
            "seconds": 60 * summary["adapt_minutes"],
            "seconds_per_iter": 60 * summary["adapt_minutes"] / max(1, s.iters),  # with their per-epoch evaluation
            "run_dir": summary["run_dir"], "differences": released_differences(cfg, s),
            "settings": {"seed": cfg.seed, "model": asdict(cfg.model), "sampling": asdict(cfg.sampling),
                         "optimization": asdict(cfg.optimization)}}


# ---- the run ------------------------------------------------------------------------------------------------------
def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fmt(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.3e}"


def table(tasks: Sequence[dict]) -> str:
    """The short table the script prints: our errors, and the released loop's where it ran."""
    head = (f"{'task':>4} {'E':>6} {'f':>6} {'k':>6} | {'ours@100':>9} {'final':>9} {'best':>9} {'(iter)':>6}"
            f" | {'theirs final':>12} {'best':>9} {'(epoch)':>7}")
    lines = [head, "-" * len(head)]
    for i, t in enumerate(tasks, 1):
        r = t.get("released") or {}
        E, f, k = t["theta"]
        lines.append(f"{i:>4} {E:>6g} {f:>6g} {k:>6g} | {fmt(t[f'mse_{QUOTED_ITER}']):>9} {fmt(t['final_mse']):>9} "
                     f"{fmt(t['best_mse']):>9} {t['best_iter']:>6} | {fmt(r.get('final_mse')):>12} "
                     f"{fmt(r.get('best_mse')):>9} {r.get('best_iter', '-'):>7}")
    finals = [t["final_mse"] for t in tasks]
    lines.append(f"mean final MSE {np.mean(finals):.3e}, median {np.median(finals):.3e}; "
                 f"mean best (oracle) {np.mean([t['best_mse'] for t in tasks]):.3e}")
    return "\n".join(lines)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--released", help="a checkout of the authors' LAM-PINN code (a folder)")
    p.add_argument("--iters", type=int, default=Settings.iters, help="adaptation iterations per task")
    p.add_argument("--every", type=int, default=Settings.every, help="measure the error every this many iterations")
    p.add_argument("--n-interior", type=int, default=Settings.n_interior, help="interior collocation points")
    p.add_argument("--n-boundary", type=int, default=Settings.n_boundary, help="collocation points per edge")
    p.add_argument("--loss", choices=("released", "ours"), default="released", help="which PINN loss to adapt on")
    p.add_argument("--tasks", type=int, default=10, help="adapt to the first this many unseen tasks")
    p.add_argument("--released-loop", type=int, default=0, metavar="N",
                   help="also run the authors' own adaptation on the first N tasks")
    p.add_argument("--released-out", help="where their loop writes its run folders (default: a new temporary folder)")
    p.add_argument("--device", help="cpu or cuda (default: lampinn.settings.device())")
    p.add_argument("--out", default="results/paper/released_network.json", help="the JSON file to write")
    args = p.parse_args(argv)
    for name in ("iters", "every", "n_interior", "n_boundary", "tasks"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if not 0 <= args.released_loop <= args.tasks:
        p.error(f"--released-loop must be in [0, --tasks = {args.tasks}], got {args.released_loop}")
    if args.tasks > 10:
        p.error(f"--tasks must be at most 10 (the unseen tasks), got {args.tasks}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    try:
        path = shipped_file(args.released)
        checkout = Path(args.released)
        if args.released_loop:
            import_released(checkout, "engine.adapt")  # fail now, not after an hour of our adaptation
        state = load_shipped(path)
        start = convert(state)
    except (Unavailable, ValueError) as err:
        print(err, file=sys.stderr)
        return 2
    s = Settings(iters=args.iters, every=args.every, n_interior=args.n_interior, n_boundary=args.n_boundary,
                 loss=args.loss, device=args.device)
    clock = Stopwatch()
    family = lampinn.get_family("elasticity")
    check = forward_difference(checkout, path, start, family.grid().points)
    print(f"converted {path}: " + (f"max |ours - theirs| = {check['max_abs_diff_stored_gates']:.1e} (stored gates), "
                                   f"{check['max_abs_diff_gates_half']:.1e} (gates 0.5)"
                                   if "error" not in check else f"not compared with theirs ({check['error']})"),
          flush=True)
    lam = as_lampinn(start, s)
    tasks = []
    for i, theta in enumerate(family.unseen_tasks()[:args.tasks]):
        tasks.append(adapt(lam, theta, s))
        t = tasks[-1]
        print(f"task {i + 1}: final MSE {fmt(t['final_mse'])}, best {fmt(t['best_mse'])} at {t['best_iter']}, "
              f"{t['seconds_per_iter'] * 1e3:.0f} ms per iteration", flush=True)
    if args.released_loop:
        out = Path(args.released_out) if args.released_out else Path(tempfile.mkdtemp(prefix="released_loop_"))
        out.mkdir(parents=True, exist_ok=True)
        for i in range(args.released_loop):
            tasks[i]["released"] = run_released(checkout, path, i + 1, s, out)
            if not np.allclose(tasks[i]["released"]["theta"], tasks[i]["theta"]):
                print(f"warning: their case {i + 1} is {tasks[i]['released']['theta']}, our task {tasks[i]['theta']}",
                      file=sys.stderr)
    commit, changed = git_state(checkout)
    result = {
        "what": "the authors' released starting network, converted and adapted by lampinn to the unseen elasticity "
                "tasks (no meta-training of ours); best_* is an oracle over the measured iterations",
        "command": shlex.join(["python", "scripts/released_network.py", *argv]),
        "settings": {**asdict(s), "tasks": args.tasks, "released_loop": args.released_loop,
                     "loss_weights": loss_family(s.loss).loss_weights},
        "released": {"file": str(SHIPPED), "sha256": sha256(path), "commit": commit, "changed": changed,
                     "forward_check": check},
        "tasks": tasks,
        "provenance": provenance("paper", 1, clock.seconds(), s.device, clock.cpu_seconds()),
    }
    target = Path(args.out)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, dumps(result, indent=1) + "\n")
    print(table(tasks))
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
