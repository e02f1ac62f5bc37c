import math

import pytest
import torch

import lampinn
from lampinn import MLP, default_device, seed_everything
from lampinn.nn import StackedMLP


def test_shapes_for_single_and_stacked_points():
    net = MLP(2, 3, width=16, depth=2)
    assert net(torch.rand(7, 2)).shape == (7, 3)
    assert net(torch.rand(4, 7, 2)).shape == (4, 7, 3)
    n_linear = sum(isinstance(m, torch.nn.Linear) for m in net.modules())
    assert n_linear == 3


def test_xavier_initialisation():
    net = MLP(2, 1, width=400, depth=2)
    hidden = net.net[2]
    assert torch.all(hidden.bias == 0)
    expected = math.sqrt(2 / (400 + 400))
    assert hidden.weight.std().item() == pytest.approx(expected, rel=0.05)


def test_input_bounds_map_box_onto_unit_square():
    net = MLP(2, 1, input_bounds=[(0, 10), (-2, 0)])
    seen = {}
    net.net[0].register_forward_hook(lambda m, inp, out: seen.update(x=inp[0]))
    net(torch.tensor([[0.0, -2.0], [10.0, 0.0], [5.0, -1.0]]))
    assert torch.allclose(seen["x"], torch.tensor([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]]))


def test_same_seed_same_weights_and_activations():
    seed_everything(3)
    a = MLP(1, 1, activation="sin")
    seed_everything(3)
    b = MLP(1, 1, activation="sin")
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"activation": "relu6"}, "unknown activation 'relu6'"),
        ({"width": 0}, "width = 0 is invalid"),
        ({"input_bounds": [(0, 1)]}, "one per input"),
    ],
)
def test_bad_arguments_name_the_problem(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLP(2, 1, **kwargs)


def test_default_device_is_cpu_without_cuda():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert default_device().type == expected
    assert default_device("cpu").type == "cpu"


# ---- StackedMLP: T networks trained as one -------------------------------------------------------
def seeded_mlps(n, fam):
    nets = []
    for s in range(n):
        seed_everything(s)
        nets.append(MLP(fam.in_dim, fam.out_dim, width=8, depth=2, input_bounds=fam.domain))
    return nets


def test_stack_and_unstack_round_trip():
    fam = lampinn.get_family("elasticity")
    nets = seeded_mlps(3, fam)
    stack = StackedMLP(nets)
    x = torch.rand(3, 10, 2) * 10
    out = stack(x)
    assert out.shape == (3, 10, 2)
    for t, net in enumerate(nets):
        assert torch.allclose(out[t], net(x[t]), atol=1e-6)
    for a, b in zip(stack.unstack(), nets):
        assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
        assert a.config == b.config
    with pytest.raises(ValueError, match="expected points of shape \\(3, N, d\\)"):
        stack(torch.rand(10, 2))
    with pytest.raises(ValueError, match="at least one network"):
        StackedMLP([])


def test_replicate_and_unstack_leave_the_global_rng_alone():
    net = seeded_mlps(1, lampinn.get_family("burgers"))[0]
    stack = StackedMLP.replicate(net, 4)
    assert stack.n_tasks == 4 and len(stack.params()) == 2 * 3
    state = torch.random.get_rng_state()
    copies = stack.unstack()
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for c in copies for p, q in zip(c.parameters(), net.parameters()))
    with torch.no_grad():
        stack.weights[0][1].add_(1.0)  # the copies are independent of the stack and of each other
    assert torch.equal(copies[1].net[0].weight, net.net[0].weight)
    assert not torch.equal(stack.unstack()[1].net[0].weight, net.net[0].weight)
