"""scripts/released_network.py: the released network's conversion, the released loss, a tiny adaptation.

No checkout of the authors' code is needed, except by the last tests, which read one from $LAMPINN_RELEASED
(default /tmp/released) and are skipped without it.
"""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lampinn.nn import ModularPINN
from lampinn.pde.elasticity import POISSON

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "released_network.py"
CHECKOUT = Path(os.environ.get("LAMPINN_RELEASED", "/tmp/released"))


def _script():
    spec = importlib.util.spec_from_file_location("released_network", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


rn = _script()


def released_keys(model: ModularPINN) -> dict[str, torch.Tensor]:
    """``model``'s weights under the names of the file the authors shipped (the inverse of ``convert``)."""
    out = {f"n{j}": g.detach().reshape(1).clone() for j, g in enumerate(model.gates)}
    for key, value in model.state_dict().items():
        head, _, rest = key.partition(".")
        if head == "basis":
            out[f"basis.net.{rest}"] = value.clone()
        elif head == "meta":
            out[f"backward.net.{rest}"] = value.clone()
        elif head == "subnets":
            j, _, rest = rest.partition(".")
            out[f"forward{int(j) + 1}.net.{rest}"] = value.clone()
    return out


def released_forward(sd: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The released network's forward pass, written from its key names: basis, plus each forward{j+1} times
    clamp(n_j), into the backward network (tanh between the linear layers)."""
    def lin(h, name):
        return h @ sd[f"{name}.weight"].T + sd[f"{name}.bias"]

    h = torch.tanh(lin(torch.tanh(lin(x, "basis.net.0")), "basis.net.2"))
    j = 0
    while f"n{j}" in sd:
        sub = torch.tanh(lin(torch.tanh(lin(x, f"forward{j + 1}.net.0")), f"forward{j + 1}.net.3"))
        h = h + sd[f"n{j}"].clamp(0, 1) * sub
        j += 1
    for i in (0, 2, 4):
        h = torch.tanh(lin(h, f"backward.net.{i}"))
    return lin(h, "backward.net.6")


def random_released(width: int = 8) -> tuple[ModularPINN, dict[str, torch.Tensor]]:
    model = ModularPINN(2, 2, 3, width=width, meta_depth=3, dropout=0.2, input_bounds=None, normalize=False).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
        model.gates.copy_(torch.tensor([0.2, 0.9, 1.3]))  # one outside [0, 1]: the forward pass clamps it
    return model, released_keys(model)


def make_checkout(folder: Path, width: int = 8) -> Path:
    """A folder laid out like the released checkout, holding a random network."""
    (folder / "lam_pinn" / "pretrained").mkdir(parents=True)
    torch.save(random_released(width)[1], folder / rn.SHIPPED)
    return folder


# ---- absent checkout ----------------------------------------------------------------------------------------------
def test_an_absent_checkout_is_one_line_and_exit_status_2(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--released", str(tmp_path / "nowhere")],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "nowhere" in lines[0] and "git clone" in lines[0] and "--released" in lines[0]


@pytest.mark.parametrize("args", [[], ["--released", "{tmp}"]])
def test_no_checkout_or_no_network_file_says_what_was_expected(tmp_path, capsys, args):
    assert rn.main([a.format(tmp=tmp_path) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "git clone" in err
    if args:
        assert "model_state_dict.pth: no such file" in err


def test_an_unreadable_network_file_is_a_plain_error(tmp_path, capsys):
    (tmp_path / "lam_pinn" / "pretrained").mkdir(parents=True)
    (tmp_path / rn.SHIPPED).write_text("not weights")
    assert rn.main(["--released", str(tmp_path)]) == 2
    assert "not a readable PyTorch weights file" in capsys.readouterr().err


# ---- conversion ---------------------------------------------------------------------------------------------------
def test_convert_round_trips_the_released_names_and_the_forward_pass():
    model, sd = random_released()
    ours = rn.convert(sd)
    assert ours.config == model.config
    for key, value in model.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value), key
    assert torch.equal(ours.shift, torch.zeros(2)) and torch.equal(ours.scale, torch.ones(2))
    x = torch.rand(64, 2) * 10
    with torch.no_grad():
        assert torch.equal(ours(x), model(x))
        assert torch.allclose(ours(x), released_forward(sd, x), atol=1e-5)


def test_convert_reads_the_current_class_names_and_refuses_unknown_ones():
    model, sd = random_released()
    current = {}
    for key, value in sd.items():
        if key.startswith("forward") and key[7].isdigit():
            key = f"forward_nets.{int(key[7]) - 1}{key[8:]}"
        elif key[0] == "n" and key[1:].isdigit():
            key = f"gates.{key[1:]}"
        current[key] = value
    x = torch.rand(16, 2) * 10
    with torch.no_grad():
        assert torch.equal(rn.convert(current)(x), model(x))
    with pytest.raises(ValueError, match="'extra.weight' is not one of"):
        rn.convert({**sd, "extra.weight": torch.zeros(1)})
    sd.pop("forward2.net.3.bias")
    with pytest.raises(ValueError, match="do not fit a ModularPINN"):
        rn.convert(sd)


# ---- the released loss --------------------------------------------------------------------------------------------
def _points(n: int = 40) -> dict[str, torch.Tensor]:
    return rn.ReleasedLoss().points(n, 12, seed=3, device="cpu")


def test_the_released_loss_has_the_edge_residual_and_no_roller_shear():
    loss = rn.ReleasedLoss()
    assert set(loss.loss_weights) == {"residual", "dirichlet", "top", "right", "edges"}
    assert loss.loss_weights["residual"] == 1 and {w for k, w in loss.loss_weights.items() if k != "residual"} == {50}
    model, _ = random_released()
    terms = loss.loss_terms(model, _points(), (80.0, 1.0, 2.0))
    assert set(terms) == set(loss.loss_weights) and all(torch.isfinite(v) for v in terms.values())


def test_an_exact_solution_has_every_released_term_zero():
    """Uniform tension k (f = 0): sigma_xx = k, sigma_yy = sigma_xy = 0, so u = k x / E and v = -nu k y / E."""
    E, k = 80.0, 4.0
    exact = lambda x: torch.stack([k * x[..., 0] / E, -POISSON * k * x[..., 1] / E], dim=-1)  # noqa: E731
    terms = rn.ReleasedLoss().loss_terms(exact, _points(), torch.tensor([E, 0.0, k]))
    assert all(float(v.detach()) < 1e-10 for v in terms.values()), terms


def _equilibrium(model, x: torch.Tensor, E: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Navier's equations in plane stress by nested autograd, written out term by term."""
    x = x.clone().requires_grad_(True)
    u, v = model(x).unbind(-1)

    def grad(f):
        return torch.autograd.grad(f.sum(), x, create_graph=True)[0].unbind(-1)

    (ux, uy), (vx, vy) = grad(u), grad(v)
    (uxx, uxy), (_, uyy) = grad(ux), grad(uy)
    (vxx, vxy), (_, vyy) = grad(vx), grad(vy)
    c, nu = E / (1 - POISSON**2), POISSON
    return (c * (uxx + (1 - nu) / 2 * uyy + (1 + nu) / 2 * vxy),
            c * (vyy + (1 - nu) / 2 * vxx + (1 + nu) / 2 * uxy))


def test_the_edge_term_is_the_residual_on_the_top_and_right_edges():
    model, _ = random_released()
    pts, E = _points(), 80.0
    terms = {k: v.detach() for k, v in rn.ReleasedLoss().loss_terms(model, pts, (E, 1.0, 2.0)).items()}
    edges = sum(r.pow(2).mean() for name in ("top", "right") for r in _equilibrium(model, pts[name], E))
    interior = sum(r.pow(2).mean() for r in _equilibrium(model, pts["interior"], E))
    assert float(terms["edges"]) == pytest.approx(float(edges.detach()), rel=1e-4)
    assert float(terms["residual"]) == pytest.approx(float(interior.detach()), rel=1e-4)


# ---- a tiny adaptation --------------------------------------------------------------------------------------------
def test_a_tiny_adaptation_writes_every_number_the_book_reads(tmp_path, capsys):
    checkout = make_checkout(tmp_path / "released")
    out = tmp_path / "deep" / "r.json"
    assert rn.main(["--released", str(checkout), "--n-interior", "50", "--n-boundary", "10", "--iters", "3",
                    "--every", "1", "--tasks", "2", "--device", "cpu", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result) >= {"what", "command", "settings", "released", "tasks", "provenance"}
    s = result["settings"]
    assert (s["iters"], s["every"], s["n_interior"], s["n_boundary"], s["seed"], s["loss"]) == (3, 1, 50, 10, 42,
                                                                                                 "released")
    assert (s["lr"], s["gate_lr"]) == (2e-3, 0.3)
    assert "edges" in s["loss_weights"] and "rollers" not in s["loss_weights"]
    assert result["provenance"]["mode"] == "paper" and "--released" in result["command"]
    assert len(result["released"]["sha256"]) == 64 and "error" in result["released"]["forward_check"]
    unseen = rn.lampinn.get_family("elasticity").unseen_tasks()
    for task, theta in zip(result["tasks"], unseen):
        assert task["theta"] == pytest.approx(theta)
        assert task["curve"]["iter"] == [0, 1, 2, 3] and task["mse_100"] is None
        assert task["final_mse"] == task["curve"]["mse"][-1] and task["final_iter"] == 3
        assert task["best_mse"] == min(task["curve"]["mse"]) == task["curve"]["mse"][task["best_iter"]]
        assert all(0 <= g <= 1 for g in task["gates"]) and np.isfinite(task["loss_first"])
    assert "mean final MSE" in capsys.readouterr().out


def test_our_loss_and_the_package_adaptation():
    assert "rollers" in rn.loss_family("ours").loss_weights
    model, _ = random_released()
    s = rn.Settings(iters=2, every=1, n_interior=30, n_boundary=8, loss="ours", device="cpu")
    lam = rn.as_lampinn(model, s)
    # as released: no output scale, the plateau schedule (0.7 after 150 stalled iterations), the released rates
    assert not lam.config.output_scale and lam.config.plateau and (lam.config.adapt_lr, lam.config.adapt_gate_lr) == (2e-3, 0.3)
    theta = rn.lampinn.get_family("elasticity").unseen_tasks()[0]
    task = rn.adapt(lam, theta, s)
    assert task["curve"]["iter"] == [0, 1, 2] and task["diverged"] is None
    assert torch.equal(model.gates, torch.tensor([0.2, 0.9, 1.3])), "the starting network is left as it was"


# ---- the real checkout (skipped without one) ----------------------------------------------------------------------
needs_checkout = pytest.mark.skipif(not (CHECKOUT / rn.SHIPPED).is_file(),
                                    reason=f"no checkout of the released code at {CHECKOUT} (set LAMPINN_RELEASED)")


@needs_checkout
def test_the_shipped_network_converts_and_matches_their_class():
    path = rn.shipped_file(CHECKOUT)
    model = rn.convert(rn.load_shipped(path))
    assert model.config["n_clusters"] == 3 and model.config["width"] == 64 and model.config["meta_depth"] == 3
    check = rn.forward_difference(CHECKOUT, path, model, rn.lampinn.get_family("elasticity").grid().points)
    assert "error" not in check, check
    assert check["max_abs_diff_stored_gates"] < 1e-5 and check["max_abs_diff_gates_half"] < 1e-5


@needs_checkout
def test_their_adaptation_config_is_the_one_we_mirror(tmp_path):
    pytest.importorskip("yaml")
    path = rn.shipped_file(CHECKOUT)
    cfg = rn.released_config(CHECKOUT, path, 3, rn.Settings(), tmp_path)
    assert rn.released_differences(cfg, rn.Settings()) == []
    assert (cfg.optimization.epochs, cfg.sampling.num_domain_points, cfg.sampling.num_bc_points) == (1000, 10000, 500)
