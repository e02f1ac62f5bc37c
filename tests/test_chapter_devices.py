"""The chapters run on whatever device :func:`lampinn.settings.device` names (a Colab GPU runtime as on a CPU).

Three checks, each of which fails if a chapter or a package call ignores the one device choice:

* the chapters' code names no device: no ``"cpu"``/``"cuda"`` string, no ``device=`` constant, no
  ``.cuda()``; a package call given nothing uses the setting;
* placement on PyTorch's ``meta`` device (tensors without data, on any machine): the package calls the
  chapters make, with ``device`` left out, put every network and point there; any call that falls back to
  the CPU (or a hard-coded device) leaves a tensor off it;
* training on a second device: the chapters' training calls (a PINN, the protocol's methods, LAM-PINN
  meta-training and adaptation, the committed model's re-adaptation) run end to end with the setting on
  CUDA where PyTorch sees a GPU (else on the CPU, the setting given explicitly) and leave every parameter
  and point on that device.
"""
import ast
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import lampinn
from lampinn import LAMPINN, LAMPINNConfig, MLP, methods, results, settings
from lampinn.baselines import _meta_network
from lampinn.protocol import Protocol

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
DEVICE_NAME = re.compile(r"^(cpu|cuda|mps|xpu)(:\d+)?$")
TINY = dict(budget=20, n_interior=64, n_boundary=16)


def chapter_code(path):
    """The code cells a reader runs (the Colab set-up, tagged remove-cell, aside), parsed."""
    nb = json.loads(path.read_text())
    return [(i, ast.parse("".join(c["source"]))) for i, c in enumerate(nb["cells"])
            if c["cell_type"] == "code" and "remove-cell" not in c["metadata"].get("tags", [])]


def device_choices(tree):
    """Places where the code picks a device itself instead of leaving it to the settings."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and DEVICE_NAME.match(node.value):
            yield f"the string {node.value!r}"
        elif isinstance(node, ast.keyword) and node.arg == "device" and isinstance(node.value, ast.Constant) \
                and node.value.value is not None:
            yield f"device={node.value.value!r}"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "cuda":
            yield ".cuda()"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_chapters_name_no_device(path):
    found = [(i, what) for i, tree in chapter_code(path) for what in device_choices(tree)]
    assert not found, f"{path.name}: cell {found[0][0]} picks a device itself ({found[0][1]}); use lampinn.settings.device()"


def test_the_device_check_finds_what_it_looks_for():
    code = 'a = f(device="cpu")\nb = x.cuda()\nc = torch.zeros(1).to("cuda:0")\nd = f(device=DEVICE)\ne = y.cpu()\n'
    assert sorted(device_choices(ast.parse(code))) == [".cuda()", "device='cpu'", "the string 'cpu'", "the string 'cuda:0'"]


def on(device, *objects):
    """Every tensor of ``objects`` (modules, dicts of tensors, tensors) is on ``device``; returns how many."""
    tensors = []
    for obj in objects:
        if isinstance(obj, torch.nn.Module):
            tensors += list(obj.parameters()) + list(obj.buffers())
        elif isinstance(obj, dict):
            tensors += list(obj.values())
        else:
            tensors.append(obj)
    wrong = [t.device for t in tensors if t.device != device]
    assert not wrong, f"{len(wrong)} of {len(tensors)} tensors on {wrong[0]}, not on the settings' device {device}"
    return len(tensors)


def test_package_calls_place_everything_on_the_settings_device():
    """On the meta device: what chapters 1-13 build with ``device`` left out lands on the settings' device."""
    settings.set_device("meta")
    meta = torch.device("meta")
    fam = lampinn.get_family("burgers")
    assert on(meta, fam.points(64, 16, seed=0)) == 3  # chapters 1, 2, 13
    protocol = Protocol(**TINY)  # chapters 3-6
    assert on(meta, protocol.points(fam, 2), _meta_network(fam, protocol)) > 3
    config = LAMPINNConfig(**TINY, stage1_iters=2, stage2_iters=1)  # chapters 8 and 13
    assert on(meta, config.protocol().points(fam, 1)) == 3
    lam = results.load_model("burgers")  # chapters 9-11
    assert on(meta, lam.model, lam.points) > 3


@pytest.fixture
def second_device():
    """CUDA where PyTorch sees a GPU (the device tool's machines, a Colab GPU runtime), else the CPU."""
    name = "cuda" if torch.cuda.is_available() else "cpu"
    settings.set_device(name)
    return torch.device(settings.device())


def test_chapter_training_runs_on_the_settings_device(second_device):
    dev = second_device
    fam = lampinn.get_family("burgers")
    # chapter 1: a network moved to the one device, the family's points, the package's trainer
    model = MLP(2, 1, width=8, depth=2, input_bounds=fam.domain).to(settings.device())
    points = fam.points(64, 16, seed=0)
    hist = lampinn.train(model, lambda m: fam.loss_terms(m, points, (0.01, 1.0, 0.0)),
                         weights=fam.loss_weights, iters=5, progress=False)
    assert len(hist.total) == 5 and np.isfinite(hist.total).all() and on(dev, model, points)
    # chapters 3-6: the protocol and the methods
    protocol = Protocol(width=8, depth=2, lr=3e-3, **TINY)
    thetas = fam.unseen_tasks()[:2]
    for name in ("scratch_adapt", "transfer"):
        run = methods.run(name, fam, thetas, protocol)
        assert np.isfinite(run.mse).all() and on(dev, *run.models)
    # chapters 8 and 13: LAM-PINN meta-trained and adapted
    config = LAMPINNConfig(width=8, stage1_iters=2, stage2_iters=1, n_clusters=2, **TINY)
    lam = LAMPINN(config).meta_train(fam)
    adapted = lam.adapt(thetas[0])
    assert np.isfinite(lampinn.evaluate(adapted.model, fam, thetas[0])["mse"])
    on(dev, lam.model, lam.points, adapted.model)
    # chapters 9-11: the committed model, re-adapted (a few steps)
    committed = results.load_model("burgers")
    again = committed.adapt(thetas[0], iters=2)
    assert len(again.history.total) == 2 and on(dev, committed.model, committed.points, again.model)
