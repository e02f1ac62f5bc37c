"""What elasticity's 500 interior points (full mode, to save time) cost in accuracy, on training tasks only.

Trains scratch PINNs for B = 1000 iterations, at the rate and loss weights the committed elasticity
run tuned for scratch at B, on its four tuning (training) tasks, with 500 and with 1000 interior
collocation points, and prints each setting's mean MSE and seconds. A few minutes on a 2-core CPU.

    python scripts/elasticity_points.py
"""
import dataclasses

import numpy as np

import lampinn
from lampinn import results
from lampinn.baselines import scratch
from lampinn.protocol import Protocol


def main() -> None:
    result = results.load("elasticity")
    tuning = result["tuning"]
    fam = lampinn.get_family("elasticity").scaled(tuning["weight"]["scratch_full"])
    tasks = np.array(tuning["tasks"])
    base = Protocol(budget=result["budget"]["full"], lr=tuning["lr"]["scratch_full"],
                    n_boundary=result["sizes"]["n_boundary"], device="cpu")
    for n in (500, 1000):
        run = scratch(fam, tasks, dataclasses.replace(base, n_interior=n))
        print(f"elasticity, scratch at B, {n:4d} interior points: mean MSE {run.mse.mean():.3e} on the tuning tasks "
              f"({np.array2string(run.mse, precision=2)}), {run.seconds['adapt_seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
