"""How the stage lengths of the benchmark (full mode, B = 1000) were chosen: on training tasks only.

Meta-trains LAM-PINN on Burgers (B = 1000) with two stage-length settings and adapts the
meta-trained model to seven *training* tasks under four adaptation settings, printing the mean
adapted MSE of each. The unseen tasks are never touched. About 10 minutes on a 2-core CPU.

    python scripts/tune_lampinn_stages.py
"""
import dataclasses
import time

import numpy as np

import lampinn
from lampinn.core import LAMPINN, LAMPINNConfig
fam = lampinn.get_family("burgers")
tune = fam.train_tasks()[[0, 8, 13, 18, 26, 4, 22]]
for s1, s2 in [(50, 25), (200, 100)]:
    cfg = LAMPINNConfig(budget=1000, n_interior=1000, n_boundary=200, stage1_iters=s1, stage2_iters=s2, device="cpu")
    t = time.time(); L = LAMPINN(cfg).meta_train(fam); print("meta", s1, s2, f"{time.time()-t:.0f}s", flush=True)
    for glr, alr in [(0.3, 2e-3), (0.03, 2e-3), (0.3, 1e-3), (0.03, 1e-3)]:
        L.config = dataclasses.replace(cfg, adapt_gate_lr=glr, adapt_lr=alr)
        tr = [lampinn.evaluate(L.adapt(th).model, fam, th)["mse"] for th in tune]
        print(f"  gate_lr {glr} lr {alr}: training-task adapt MSE {np.mean(tr):.4f}", np.round(tr, 4), flush=True)
