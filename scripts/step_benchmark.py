"""Time one PINN step, derivatives carried forward against nested autograd (the reproducibility appendix shows it).

    python scripts/step_benchmark.py [--out results/step_benchmark.json] [--repeats 7] [--calls 20]
        [--families burgers,helmholtz,elasticity] [--n-interior 500] [--n-boundary 200]

For each family and network (the protocol's 4x50 tanh MLP; LAM-PINN's modular network with K = 3, as
adapted: eval mode), at the benchmark's sizes (500 interior points, 200 per boundary part; other sizes size a
run before it starts, such as the paper's 10,000 points) and one
thread: the network's forward pass over all the loss's points, forward + backward, and the PINN
loss + backward by each path, measured side by side in one process. Each time is the fastest of
``--repeats`` rounds of ``--calls`` calls (the least disturbed by other work on the machine). The
ratio is the PINN loss + backward over forward + backward.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import lampinn
from lampinn.autodiff import autograd_only
from lampinn.files import atomic_write
from lampinn.nn import MLP, ModularPINN
from lampinn.provenance import Stopwatch, provenance



def per_call(fn, calls: int, repeats: int) -> float:
    """The fastest of ``repeats`` rounds of ``calls`` calls of ``fn``, in milliseconds per call."""
    fn()  # warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - start) / calls)
    return 1e3 * best


def networks(fam: lampinn.pde.Family) -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    modular = ModularPINN(fam.in_dim, fam.out_dim, 3, input_bounds=fam.domain).eval()
    return {"MLP 4x50": MLP(fam.in_dim, fam.out_dim, 50, 4, input_bounds=fam.domain), "ModularPINN K=3": modular}


def measure(family: str, name: str, model: torch.nn.Module, calls: int, repeats: int, n_interior: int = 500,
            n_boundary: int = 200) -> dict:
    """One row: forward, forward + backward, and the loss + backward by each path (ms per call)."""
    fam = lampinn.get_family(family)
    points = fam.points(n_interior, n_boundary, seed=0, device="cpu")
    every = torch.cat(list(points.values()), dim=-2)
    theta = fam.train_tasks()[13]

    def forward():
        with torch.no_grad():
            model(every)

    def forward_backward():
        model.zero_grad(set_to_none=True)
        model(every).sum().backward()

    def step():
        model.zero_grad(set_to_none=True)
        fam.loss(model, points, theta).backward()

    def step_autograd():
        with autograd_only():
            step()

    row = {"family": family, "network": name, "forward_ms": per_call(forward, calls, repeats),
           "forward_backward_ms": per_call(forward_backward, calls, repeats)}
    # the two paths alternate round by round, so that a disturbance of the machine falls on both
    new, old = float("inf"), float("inf")
    for _ in range(repeats):
        new = min(new, per_call(step, calls, 1))
        old = min(old, per_call(step_autograd, calls, 1))
    row.update(loss_backward_ms=new, loss_backward_autograd_ms=old, speedup=old / new,
               ratio=new / row["forward_backward_ms"], ratio_autograd=old / row["forward_backward_ms"])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/step_benchmark.json")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--families", default="burgers,helmholtz,elasticity")
    parser.add_argument("--n-interior", type=int, default=500, help="interior collocation points")
    parser.add_argument("--n-boundary", type=int, default=200, help="points per boundary part")
    args = parser.parse_args()
    torch.set_num_threads(1)
    clock = Stopwatch()
    rows = []
    for family in args.families.split(","):
        for name, model in networks(lampinn.get_family(family)).items():
            rows.append(measure(family, name, model, args.calls, args.repeats, args.n_interior, args.n_boundary))
            r = rows[-1]
            print(f"{family:>10} {name:>16}  forward {r['forward_ms']:6.2f}  fwd+bwd {r['forward_backward_ms']:6.2f}  "
                  f"loss+bwd {r['loss_backward_ms']:6.2f} (autograd {r['loss_backward_autograd_ms']:6.2f})  "
                  f"speed-up {r['speedup']:4.2f}  ratio {r['ratio']:4.2f} (autograd {r['ratio_autograd']:4.2f})", flush=True)
    result = {"sizes": {"n_interior": args.n_interior, "n_boundary": args.n_boundary, "calls": args.calls,
                        "repeats": args.repeats},
              "rows": rows, "provenance": provenance("step", 1, clock.seconds(), "cpu", clock.cpu_seconds())}
    atomic_write(Path(args.out), json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
