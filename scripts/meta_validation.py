"""Choose LAM-PINN's meta-training settings on meta-validation: held-out *training* tasks only.

For one family, at the sizes of one mode (default: ``default``, B = 1000), meta-trains LAM-PINN on
the 21 training tasks outside :data:`lampinn.health.VALIDATION_TASKS` with each candidate setting,
adapts it for B/10 to each of the 6 held-out tasks, and appends one JSON line per candidate to
``--out``: the mean adapted MSE (the criterion), each task's MSE, the meta network's saturation
per layer (reference grid, gates at 0.5), the weighted loss scale of each term on the held-out
tasks at the start of adaptation, and the seconds. A first line holds the baseline: fine-tuning
the central-task network for B/10 (``transfer``). The unseen and OOD tasks are never touched.

    python scripts/meta_validation.py elasticity --out mv.jsonl [--candidates current balanced ...]
"""
import argparse
import json
import time

import numpy as np
import torch

import lampinn
from lampinn import health, settings
from lampinn.core import LAMPINNConfig
from lampinn.protocol import Protocol

#: The candidates: changes to the benchmark's LAM-PINN configuration.
CANDIDATES = {
    "current": {},
    "released": {"stage1_iters": 200, "stage2_iters": 100, "n_clusters": 3},
    "weights/10": {"meta_weight_factor": 0.1},
    "balanced": {"term_balance": True, "stage2_balance": True},
    "balanced+decay": {"term_balance": True, "stage2_balance": True, "meta_weight_decay": 1e-2},
    "K=3": {"n_clusters": 3},
    "stage1_lr/4": {"stage1_lr": 5e-4},
    "scaled": {"output_scale": True},
    "normalized": {"normalize_features": True},
    "scaled+normalized": {"output_scale": True, "normalize_features": True},
    "normalized+decay": {"normalize_features": True, "meta_weight_decay": 1e-2},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("family", choices=sorted(lampinn.pde.FAMILIES))
    parser.add_argument("--out", required=True)
    parser.add_argument("--mode", default="default", choices=settings.MODES)
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()
    fam = lampinn.get_family(args.family)
    s = settings.sizes(fam.name, args.mode)
    config = LAMPINNConfig(budget=s["budget"], n_interior=s["n_interior"], n_boundary=s["n_boundary"],
                           stage1_iters=s["stage1"], stage2_iters=s["stage2"], device="cpu")
    grid = torch.tensor(fam.grid().points, dtype=torch.float32)
    common = {"family": fam.name, "mode": args.mode, "sizes": s, "held_out": list(health.VALIDATION_TASKS),
              "threads": torch.get_num_threads(), "torch": torch.__version__}

    def write(row: dict) -> None:
        with open(args.out, "a") as fh:
            fh.write(json.dumps({**common, **row}) + "\n")
        print(json.dumps({k: row[k] for k in ("candidate", "score", "saturation", "seconds") if k in row}), flush=True)

    if not args.no_baseline:
        start = time.perf_counter()
        mse = health.finetune_validation(fam, Protocol(budget=s["budget"], n_interior=s["n_interior"],
                                                       n_boundary=s["n_boundary"], device="cpu"))
        write({"candidate": "finetune (transfer)", "score": float(mse.mean()), "mse": mse.tolist(),
               "seconds": time.perf_counter() - start})
    for name in args.candidates:
        mv = health.meta_validation(config, fam, **CANDIDATES[name])
        lam = mv.model
        gates = torch.full((lam.clustering.k,), 0.5)
        scales = health.loss_scales(fam, lambda x: lam.model(x, gates), lam.points, mv.tasks)
        write({"candidate": name, "changes": CANDIDATES[name], "score": mv.score, "mse": mv.mse.tolist(),
               "k": lam.clustering.k, "saturation": [round(v, 3) for v in health.saturation(lam.model, grid, gates)],
               "loss_scales": {k: float(np.median(v)) for k, v in scales.items()},
               "curve": mv.curve[:: max(1, len(mv.curve) // 10)].tolist(), "seconds": mv.seconds})


if __name__ == "__main__":
    main()
