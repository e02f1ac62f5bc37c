import json
from dataclasses import replace

import numpy as np
import pytest
import torch

import lampinn
from lampinn.affinity import Sessions, cluster, learning_affinity, representation, visit_order
from lampinn.protocol import Protocol
from lampinn.core import LAMPINN, LAMPINNConfig
from lampinn.nn import MLP, ModularPINN, state_sha256

TINY = LAMPINNConfig(budget=60, n_interior=128, n_boundary=32, width=16, stage1_iters=4, stage2_iters=3,
                     affinity_fraction=0.1, device="cpu")


@pytest.fixture(scope="module")
def trained():
    return LAMPINN(TINY).meta_train(lampinn.get_family("burgers"))


def test_modular_network_shapes_and_gate_clamping():
    torch.manual_seed(0)
    m = ModularPINN(2, 2, n_clusters=3, width=8, input_bounds=[(0, 10), (0, 10)]).eval()
    x = torch.rand(7, 2) * 10
    assert m(x).shape == (7, 2) and m.features(x).shape == (7, 8)
    assert torch.equal(m(x, torch.tensor([2.0, -1.0, 0.5])), m(x, torch.tensor([1.0, 0.0, 0.5])))
    with torch.no_grad():
        m.gates.copy_(torch.tensor([0.0, 0.0, 0.0]))
    assert torch.allclose(m.features(x), m.basis((x - m.shift) * m.scale))
    with pytest.raises(ValueError, match="n_clusters = 0 is invalid"):
        ModularPINN(2, 1, n_clusters=0)


def test_affinity_sessions_record_every_task_curve():
    fam = lampinn.get_family("helmholtz")
    protocol = Protocol(width=8, depth=2, n_interior=64, n_boundary=16, device="cpu")
    source = protocol.network(fam)
    s = learning_affinity(fam, source, fam.train_tasks()[:4], iters=5, protocol=protocol)
    assert s.curves.shape == (4, 5) and np.all(s.curves > 0)
    f = s.features(slope=True)
    np.testing.assert_allclose(f[:, 0], s.curves[:, 0])
    np.testing.assert_allclose(f[:, 1], s.curves[:, -1])
    np.testing.assert_allclose(f[:, 2], s.curves.mean(axis=1))
    assert f.shape == (4, 4)
    # the first recorded loss is the source network's own loss on each task
    pts = protocol.points(fam, 1)
    own = fam.loss(source, {k: v[0] for k, v in pts.items()}, fam.train_tasks()[2])
    assert s.curves[2, 0] == pytest.approx(float(own.detach()), rel=1e-5)


def test_representation_is_standardised_and_clustering_reproducible():
    fam = lampinn.get_family("burgers")
    rng = np.random.default_rng(0)
    feats = 10 ** rng.normal(size=(27, 3))
    X = representation(fam, fam.train_tasks(), feats)
    assert X.shape == (27, 6)
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(X.std(axis=0), 1)
    a, b = cluster(X, seed=3), cluster(X, seed=3)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.k == max(a.silhouette, key=a.silhouette.get) and set(a.silhouette) == {2, 3, 4, 5, 6}
    assert len(a.stability) == 20 and all(-1 <= v <= 1 for v in a.stability)
    assert cluster(X, k=4).k == 4
    assert representation(fam, fam.train_tasks(), None).shape == (27, 3)


def test_visit_order_is_round_robin_nearest_first():
    labels = np.array([0, 0, 1, 1, 1, 2])
    X = np.array([[0.0], [3.0], [1.0], [5.0], [2.0], [9.0]])
    assert visit_order(labels, X, anchor=0) == [[0, 2, 5], [1, 4], [3]]


def test_balanced_visit_order_pads_small_clusters_with_their_own_tasks():
    """As released: every cluster's queue is padded to the largest one's size by redrawing its own tasks, the
    nearest to the anchor most often, so every round visits every cluster; the draw is seeded."""
    labels = np.array([0, 0, 1, 1, 1, 2])
    X = np.array([[0.5], [3.0], [1.0], [5.0], [2.0], [9.0]])
    rounds = visit_order(labels, X, anchor=0, balanced=True, seed=1)
    assert rounds == visit_order(labels, X, anchor=0, balanced=True, seed=1)
    assert len(rounds) == 3 and all(sorted(labels[r].tolist()) == [0, 1, 2] for r in rounds)
    assert [r[1] for r in rounds] == [2, 4, 3]  # the largest cluster as before, nearest first
    assert [r[0] for r in rounds][:2] == [0, 1] and [r[2] for r in rounds] == [5, 5, 5]
    draws = [visit_order(labels, X, anchor=0, balanced=True, seed=s)[2][0] for s in range(200)]
    assert draws.count(0) > 190  # the anchor, at distance 0, is drawn almost always


def test_meta_training_records_its_pieces(trained):
    assert trained.clustering.labels.shape == (27,) and trained.model.n_clusters == trained.clustering.k
    assert sorted(t for r in trained.rounds for t in r) == list(range(27))
    assert len(trained.history["stage1"]) == 27 * TINY.stage1_iters
    assert len(trained.history["stage2"]) == len(trained.rounds) * TINY.stage2_iters
    assert trained.sessions.curves.shape == (27, 6)
    assert np.allclose(trained.model.gates.detach().numpy(), 0.5)


def test_meta_training_can_reuse_sessions(trained):
    again = LAMPINN(replace(TINY, n_clusters=1)).meta_train(trained.family, sessions=trained.sessions)
    assert again.sessions is trained.sessions and again.clustering.k == 1
    short = Sessions(trained.tasks, trained.sessions.curves[:, :3], 0.0)
    with pytest.raises(ValueError, match=r"curves of shape \(27, 3\); expected \(27, 6\)"):
        LAMPINN(TINY).meta_train(trained.family, sessions=short)


def test_balanced_stage2_starts_every_task_at_one(trained):
    lam = LAMPINN(replace(TINY, stage2_balance=True), family=trained.family, model=copy_model(trained.model),
                  tasks=trained.tasks, clustering=trained.clustering, points=trained.points)
    lam.history = {"stage2": lampinn.History()}
    round_ = trained.rounds[0]
    lam._stage2(round_)
    assert lam.history["stage2"].total[0] == pytest.approx(1.0, rel=1e-5)  # mean over the round of 1 per task
    plain = LAMPINN(TINY, family=trained.family, model=copy_model(trained.model), tasks=trained.tasks,
                    clustering=trained.clustering, points=trained.points)
    plain.history = {"stage2": lampinn.History()}
    plain._stage2(round_)
    assert plain.history["stage2"].total[0] != pytest.approx(1.0, rel=1e-2)


def copy_model(model):
    out = ModularPINN(**model.config)
    out.load_state_dict(model.state_dict())
    for p in out.basis.parameters():
        p.requires_grad_(False)
    return out


def _snapshot(module):
    return [p.detach().clone() for p in module.parameters()]


def _same(a, b):
    return all(torch.equal(p, q) for p, q in zip(a, b))


def test_stage_freezing(trained):
    lam = LAMPINN(TINY, family=trained.family, model=ModularPINN(**{**trained.model.config}), tasks=trained.tasks,
                  clustering=trained.clustering, points=trained.points)
    lam.model.load_state_dict(trained.model.state_dict())
    for p in lam.model.basis.parameters():
        p.requires_grad_(False)
    lam.history = {"stage1": lampinn.History(), "stage2": lampinn.History()}
    t = 5
    own = trained.clustering.labels[t]
    basis, subnets, meta = _snapshot(lam.model.basis), _snapshot(lam.model.subnets), _snapshot(lam.model.meta)
    lam._stage1(t)
    assert _same(basis, _snapshot(lam.model.basis))  # the basis is frozen
    assert lam.model.gates[own].item() == 1.0  # the task's own gate is held open
    assert not _same(subnets, _snapshot(lam.model.subnets)) and not _same(meta, _snapshot(lam.model.meta))
    subnets, meta, gates = _snapshot(lam.model.subnets), _snapshot(lam.model.meta), lam.model.gates.detach().clone()
    lam._stage2([t, 0])
    assert _same(basis, _snapshot(lam.model.basis)) and _same(subnets, _snapshot(lam.model.subnets))
    assert torch.equal(gates, lam.model.gates) and not _same(meta, _snapshot(lam.model.meta))


@pytest.mark.parametrize("name", ["burgers", "helmholtz", "elasticity"])
def test_adaptation_reduces_the_loss_on_each_family(name, trained):
    fam = lampinn.get_family(name)
    lam = trained if name == "burgers" else LAMPINN(TINY).meta_train(fam)
    theta = fam.unseen_tasks()[0]
    out = lam.adapt(theta, iters=30)
    assert out.history.total[-1] < out.history.total[0]
    assert out.gates.shape == (lam.clustering.k,) and np.all((out.gates >= 0) & (out.gates <= 1))
    assert _same(_snapshot(lam.model.basis), _snapshot(out.model.basis))  # the basis stays frozen
    assert np.allclose(lam.model.gates.detach().numpy(), 0.5)  # adapting works on a copy


def test_save_load_round_trip_bit_for_bit(trained, tmp_path):
    path = tmp_path / "model.pt"
    trained.save(path)
    back = LAMPINN.load(path)
    for (k, a), b in zip(trained.model.state_dict().items(), back.model.state_dict().values()):
        assert torch.equal(a, b), k
    np.testing.assert_array_equal(back.clustering.labels, trained.clustering.labels)
    np.testing.assert_array_equal(back.representation, trained.representation)
    assert back.version == lampinn.__version__ and back.family.name == "burgers"
    theta = trained.family.unseen_tasks()[1]
    np.testing.assert_array_equal(trained.adapt(theta, iters=3).gates, back.adapt(theta, iters=3).gates)
    # a family object is used as given (a family of your own is not found by name); the name must match
    burgers = lampinn.get_family("burgers")
    assert LAMPINN.load(path, family=burgers).family is burgers
    with pytest.raises(ValueError, match="a checkpoint of family 'burgers', not 'helmholtz'"):
        LAMPINN.load(path, family=lampinn.get_family("helmholtz"))


def test_loading_a_family_of_your_own_without_family_says_to_pass_it(trained, tmp_path):
    import json

    blob = torch.load(_saved(trained, tmp_path), weights_only=True)
    blob["meta"] = json.dumps({**json.loads(blob["meta"]), "family": "advection-diffusion"})
    torch.save(blob, tmp_path / "own.pt")
    with pytest.raises(ValueError, match=r"unknown family 'advection-diffusion'.*pass it: LAMPINN.load\(path, family="):
        LAMPINN.load(tmp_path / "own.pt")


def _saved(trained, tmp_path):
    path = tmp_path / "model.pt"
    trained.save(path)
    return path


def test_corrupt_truncated_and_mismatched_files_fail_in_one_line(trained, tmp_path):
    path = tmp_path / "model.pt"
    trained.save(path)
    data = path.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint at all")
    for bad in ("truncated.pt", "garbage.pt"):
        with pytest.raises(ValueError, match="not a readable LAM-PINN checkpoint") as info:
            LAMPINN.load(tmp_path / bad)
        assert "\n" not in str(info.value)
    blob = torch.load(path, weights_only=True)
    blob["state"]["gates"] = torch.zeros(7)
    meta = json.loads(blob["meta"])
    blob["meta"] = json.dumps({**meta, "sha256": state_sha256(blob["state"])})  # consistent, but not this network
    torch.save(blob, tmp_path / "mismatch.pt")
    with pytest.raises(ValueError, match="do not match the network"):
        LAMPINN.load(tmp_path / "mismatch.pt")
    torch.save({"weights": MLP(1, 1).state_dict()}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a readable LAM-PINN checkpoint"):
        LAMPINN.load(tmp_path / "other.pt")


def test_unknown_feature_choice_and_untrained_use():
    with pytest.raises(ValueError, match="features 'loss' is not one of"):
        LAMPINN(LAMPINNConfig(features="loss")).meta_train(lampinn.get_family("burgers"))
    with pytest.raises(ValueError, match="not meta-trained yet"):
        LAMPINN().adapt((0.01, 1.0, 0.2))


def test_adaptation_callback_sees_every_step_and_can_stop_it(trained):
    steps = []
    trained.adapt(trained.tasks[0], iters=5, callback=steps.append)
    assert steps == [1, 2, 3, 4, 5]

    def stop(step):
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        trained.adapt(trained.tasks[0], iters=5, callback=stop)


def test_adaptation_explorer_static_and_interactive(trained):
    import threading
    import time

    import matplotlib.pyplot as plt

    from lampinn.widgets import adaptation_explorer

    plt.close("all")
    adapted = adaptation_explorer(trained, iters=3, static=True)
    assert adapted.gates.shape == (trained.clustering.k,) and len(adapted.history) == 3
    assert len(plt.figure(1).axes) == 4 + 3  # reference, prediction, error (each with a colour bar) and the gates
    plt.close("all")

    box = adaptation_explorer(trained, iters=4, static=False)  # starts adapting to the first unseen task at once
    sliders, (go, stop, bar, status), out = box.children[0].children, box.children[1].children, box.children[2]
    assert [s.description for s in sliders] == list(trained.family.param_names)
    deadline = time.time() + 60
    while go.disabled and time.time() < deadline:
        time.sleep(0.05)
    assert status.value.startswith("4 steps in") and bar.value == 4 and len(out.outputs) == 1

    # a stop pressed while adapting ends the run early and says so
    release = threading.Event()
    original = trained.adapt

    def slow_adapt(theta, iters, callback):
        def tick(step):
            release.wait(5)
            callback(step)
        return original(theta, iters, callback=tick)

    trained.adapt = slow_adapt
    try:
        sliders[0].value = sliders[0].max  # outside the design box is allowed
        go.click()
        stop.click()
        release.set()
        while go.disabled and time.time() < deadline:
            time.sleep(0.05)
    finally:
        del trained.adapt
    assert status.value == "stopped after 1 of 4 steps"


def test_files_written_before_a_setting_existed_load_with_the_value_they_were_run_with(trained, tmp_path):
    from lampinn.core import LATER_FIELDS, LATER_MODEL_KEYS

    path = tmp_path / "old.pt"
    trained.save(path)
    blob = torch.load(path, weights_only=True)
    meta = json.loads(blob["meta"])
    for name in LATER_FIELDS:
        meta["config"].pop(name)
    for name in LATER_MODEL_KEYS:
        meta["model"].pop(name)
    torch.save({"meta": json.dumps(meta), "state": blob["state"]}, path)
    back = LAMPINN.load(path)
    assert {k: getattr(back.config, k) for k in LATER_FIELDS} == LATER_FIELDS
    assert back.model.config["normalize"] is False


@pytest.mark.parametrize("warm_start", ["central", "tasks"])
def test_warm_start_pretrains_on_the_central_task_or_every_task_in_turn(warm_start, trained, monkeypatch):
    fam = lampinn.get_family("burgers")
    seen = []
    original = type(fam).loss_terms

    def spy(self, model, points, theta):
        seen.append(tuple(np.round(np.asarray(theta, dtype=float), 6)))
        return original(self, model, points, theta)

    monkeypatch.setattr(type(fam), "loss_terms", spy)
    tasks = fam.train_tasks()[[0, 13, 26]]
    cfg = replace(TINY, budget=6, stage1_iters=1, stage2_iters=1, n_clusters=2, warm_start=warm_start)
    LAMPINN(cfg).meta_train(fam, sessions=Sessions(tasks, trained.sessions.curves[[0, 13, 26], :2], 0.0), tasks=tasks)
    pretraining = [tuple(np.round(t, 6)) for t in tasks[[1] * 6 if warm_start == "central" else [0, 1, 2, 0, 1, 2]]]
    assert seen[:6] == pretraining
    with pytest.raises(ValueError, match="warm_start 'all' is not one of central, tasks"):
        LAMPINNConfig(warm_start="all")


def test_the_warm_start_and_sessions_train_as_transfers_source(monkeypatch):
    """With the protocol's rate and ``warm_weight_factor``, the affinity sessions start from transfer's network (the
    same weights, bit for bit), the sessions and the warm start train with those weights, and stages 1 and 2 keep
    ``meta_weight_factor``'s: LAM-PINN starts where transfer starts."""
    import lampinn.core as core
    from lampinn.methods import get_method

    fam = lampinn.get_family("helmholtz")
    cfg = replace(TINY, lr=3e-3, warm_weight_factor=100.0, meta_weight_factor=0.1, n_clusters=2)
    sources, calls = [], []
    real_sessions, real_train = core.learning_affinity, core.train

    def sessions(family, source, tasks, iters, protocol):
        sources.append((family.loss_weights, {k: v.clone() for k, v in source.state_dict().items()}, protocol.lr))
        return real_sessions(family, source, tasks, iters, protocol)

    def train(model, loss, **kw):
        calls.append((kw.get("weights"), kw.get("lr")))
        return real_train(model, loss, **kw)

    monkeypatch.setattr(core, "learning_affinity", sessions)
    monkeypatch.setattr(core, "train", train)
    LAMPINN(cfg).meta_train(fam)
    transfer = get_method("transfer").prepare(fam.scaled(100.0), replace(cfg.protocol(), lr=3e-3)).init
    weights, state, lr = sources[0]
    assert weights == fam.scaled(100.0).loss_weights and lr == 3e-3
    assert all(torch.equal(state[k], v) for k, v in transfer.state_dict().items())
    assert calls[0] == (fam.scaled(100.0).loss_weights, 3e-3)  # the warm start of the modular network
    assert all(w == fam.scaled(0.1).loss_weights for w, _ in calls[1:])  # stages 1 and 2


def test_the_modular_network_warm_starts_on_the_central_task_even_off_the_design(monkeypatch):
    """The basis trains on transfer's source task: the 8-task designs of the diversity map keep their box's centre,
    which is none of their training tasks (the nearest corner would start LAM-PINN elsewhere than transfer)."""
    from lampinn import diversity
    from lampinn.protocol import central_task

    fam = diversity.widened(lampinn.get_family("helmholtz"), 1.0, 2)
    seen, real = [], LAMPINN._loss

    def loss(self, theta, gates=None, balance=False):
        seen.append(np.asarray(theta).tolist())
        return real(self, theta, gates, balance)

    monkeypatch.setattr(LAMPINN, "_loss", loss)
    LAMPINN(replace(TINY, n_clusters=2, stage1_iters=0, stage2_iters=0)).meta_train(fam)
    assert seen[0] == central_task(fam).tolist() == [1.25, 1.25, 2.5]
