"""Why does the meta-trained network miss its own training tasks? Stage 2 with and without balancing.

Re-meta-trains the committed LAM-PINN of one family (same configuration, seed and affinity
sessions, read from ``results/FAMILY.models/lampinn-seed0.pt``) twice: without stage 2, and with
``stage2_balance`` (each task's loss divided by its value at the start of the round). For the
committed network and both variants it prints the mean and median relative L2 error on the 27
*training* tasks, each with its stage-1 gates, before any adaptation. The unseen tasks are never
touched. A few minutes per family on a 2-core CPU.

    python scripts/stage2_diagnosis.py helmholtz
"""
import dataclasses
import sys
import time

import numpy as np

from lampinn import results
from lampinn.core import LAMPINN


def main(family: str) -> None:
    committed = LAMPINN.load(results.results_dir() / f"{family}.models" / "lampinn-seed0.pt", "cpu")
    variants = {"as committed (stage 2 as published)": committed}
    for label, change in (("without stage 2", {"stage2_iters": 0}), ("balanced stage 2", {"stage2_balance": True})):
        start = time.perf_counter()
        variants[label] = LAMPINN(dataclasses.replace(committed.config, **change)).meta_train(
            committed.family, sessions=committed.sessions)
        print(f"{family}: meta-trained {label} in {time.perf_counter() - start:.0f} s", flush=True)
    for label, lam in variants.items():
        rel = lam.training_errors()
        print(f"{family} {label:38s} training-task relative L2: mean {rel.mean():.3g}, median {np.median(rel):.3g}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "helmholtz")
