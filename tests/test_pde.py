import itertools

import numpy as np
import pytest
import torch

import lampinn
from lampinn import MLP, train
from lampinn.pde import designs
from lampinn.pde.burgers import cole_hopf, initial_condition
from lampinn.pde.elasticity import MESH, fem_on_points, solve_fem
from lampinn.pde.helmholtz import exact

NAMES = ("burgers", "helmholtz", "elasticity")


def as_points(fam, seed=0, **kw):
    return {k: torch.as_tensor(v, dtype=torch.float64) for k, v in fam.sample(seed=seed, **kw).items()}


# ---- the family interface ------------------------------------------------------------------
def test_get_family_and_unknown_name():
    for name in NAMES:
        fam = lampinn.get_family(name)
        assert fam.name == name and len(fam.param_names) == 3
        assert set(fam.bounds) == set(fam.param_names)
    with pytest.raises(ValueError, match="unknown family 'poisson'; expected one of burgers, elasticity, helmholtz"):
        lampinn.get_family("poisson")


@pytest.mark.parametrize("name", NAMES)
def test_task_designs(name):
    fam = lampinn.get_family(name)
    train_tasks, unseen, ood = fam.train_tasks(), fam.unseen_tasks(), fam.ood_tasks()
    assert train_tasks.shape == (27, 3) and unseen.shape == (10, 3) and ood.shape == (10, 3)
    expected = set(itertools.product(*(fam.levels[n] for n in fam.param_names)))
    assert set(map(tuple, train_tasks)) == expected
    assert all(fam.in_bounds(t) for t in unseen)
    assert not set(map(tuple, unseen)) & expected
    unit = designs.to_unit(fam, ood)
    assert not any(fam.in_bounds(t) for t in ood)
    assert np.all((unit >= -0.15 - 1e-9) & (unit <= 1.15 + 1e-9))
    for t in np.vstack([unseen, ood]):
        fam.validate(t)


@pytest.mark.parametrize("name", NAMES)
def test_stored_designs_are_the_seeded_draws(name):
    fam = lampinn.get_family(name)
    np.testing.assert_array_equal(fam.ood_tasks(), designs.draw_ood(fam))
    if name != "elasticity":  # elasticity uses the published unseen tasks
        np.testing.assert_array_equal(fam.unseen_tasks(), designs.draw_unseen(fam))


@pytest.mark.parametrize(
    "name, theta, match",
    [
        ("burgers", (0.01, 1.0), "got 2 parameters, expected 3 \\(nu, A, w\\)"),
        ("burgers", (0.0, 1.0, 0.2), "nu = 0 is not physical; expected nu > 0"),
        ("burgers", (-0.01, 1.0, 0.2), "nu = -0.01 is not physical"),
        ("elasticity", (-5.0, 1.0, 2.0), "E = -5 is not physical; expected E > 0"),
        ("helmholtz", (1.0, float("nan"), 2.0), "a2 = nan is not finite"),
        ("helmholtz", (1.0, 2.0, float("inf")), "k = inf is not finite"),
    ],
)
def test_invalid_parameters_raise(name, theta, match):
    fam = lampinn.get_family(name)
    with pytest.raises(ValueError, match=match):
        fam.reference(theta)


def test_values_outside_the_bounds_are_valid():
    fam = lampinn.get_family("burgers")
    assert fam.in_bounds((0.01, 1.0, 0.25)) and not fam.in_bounds((0.05, 1.0, 0.25))
    assert np.isfinite(fam.reference((0.05, 1.0, 0.25)).values).all()


@pytest.mark.parametrize("name", NAMES)
def test_sampling_is_seeded_and_inside_the_domain(name):
    fam = lampinn.get_family(name)
    a, b, c = fam.sample(seed=1), fam.sample(seed=1), fam.sample(seed=2)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
        lo, hi = np.array(fam.domain).T
        assert np.all((a[key] >= lo) & (a[key] <= hi))
    assert not np.array_equal(a["interior"], c["interior"])


@pytest.mark.parametrize("name", NAMES)
def test_stacked_tasks_give_each_single_task_loss(name):
    fam = lampinn.get_family(name)
    torch.manual_seed(0)
    model = MLP(2, fam.out_dim, width=8, depth=2, input_bounds=fam.domain).double()
    pts = as_points(fam, n_interior=64, n_boundary=16)
    tasks = fam.train_tasks()[[0, 13, 26]]
    stacked = {k: v.expand(len(tasks), *v.shape) for k, v in pts.items()}
    together = fam.loss_terms(model, stacked, torch.as_tensor(tasks))
    for key in together:
        assert together[key].shape == (3,)
        single = torch.stack([fam.loss_terms(model, pts, t)[key] for t in tasks])
        assert torch.allclose(together[key], single, rtol=1e-10)


def test_total_loss_is_the_weighted_sum_of_the_terms():
    fam = lampinn.get_family("elasticity")
    model = MLP(2, 2, width=8, depth=2, input_bounds=fam.domain).double()
    pts, theta = as_points(fam, n_interior=32, n_boundary=8), fam.train_tasks()[5]
    terms = fam.loss_terms(model, pts, theta)
    expected = sum(fam.loss_weights[k] * v for k, v in terms.items())
    assert torch.allclose(fam.loss(model, pts, theta), expected)
    assert fam.loss_weights == {"residual": 1.0, "dirichlet": 50.0, "rollers": 50.0, "top": 50.0, "right": 50.0}


def test_loss_weights_are_configurable():
    fam = lampinn.pde.Burgers(loss_weights={"boundary": 100.0})
    assert fam.loss_weights == {"residual": 1.0, "boundary": 100.0, "initial": 10.0}
    assert lampinn.get_family("burgers").loss_weights["boundary"] == 10.0  # the default is untouched
    with pytest.raises(ValueError, match="unknown loss terms \\['bc'\\]"):
        lampinn.pde.Burgers(loss_weights={"bc": 1.0})
    with pytest.raises(ValueError, match="invalid; expected finite numbers >= 0"):
        lampinn.pde.Helmholtz(loss_weights={"boundary": -1.0})


def test_scaled_weighs_the_constraint_terms_only():
    fam = lampinn.get_family("elasticity")
    heavy = fam.scaled(10.0)
    assert heavy.loss_weights == {"residual": 1.0, "dirichlet": 500.0, "rollers": 500.0, "top": 500.0, "right": 500.0}
    assert fam.loss_weights["top"] == 50.0 and fam.scaled(1.0) is fam and heavy.name == fam.name
    with pytest.raises(ValueError, match="loss-weight factor 0.0 is invalid; expected a finite number > 0"):
        fam.scaled(0.0)


def test_scaled_copies_share_the_cached_references():
    """Loss weights change no solution: the benchmark evaluates every task on a scaled copy of its family, and
    recomputing Burgers' reference each time (0.3 s a task) cost a third of a small benchmark run."""
    fam = lampinn.get_family("burgers")
    theta = fam.unseen_tasks()[0]
    sol = fam.reference(theta)
    assert fam.scaled(10.0).reference(theta) is sol and fam.scaled(10.0).scaled(0.1).reference(theta) is sol


def test_evaluate_metric():
    fam = lampinn.get_family("helmholtz")
    theta = fam.unseen_tasks()[0]

    def exact_model(x):
        return exact(x[..., 0], x[..., 1], theta[0], theta[1]).unsqueeze(-1)

    res = lampinn.evaluate(exact_model, fam, theta)  # float32 points: exact up to rounding
    assert res["mse"] < 1e-12 and res["rel_l2"] < 1e-6

    def zero_model(x):
        return torch.zeros(*x.shape[:-1], 1)

    res = lampinn.evaluate(zero_model, fam, theta)
    assert res["rel_l2"] == pytest.approx(1.0)
    assert res["mse"] == pytest.approx(np.mean(fam.reference(theta).values ** 2), rel=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_a_pinn_trains_on_any_task_through_the_family_loss(name):
    fam = lampinn.get_family(name)
    theta = fam.train_tasks()[0]
    torch.manual_seed(0)
    model = MLP(fam.in_dim, fam.out_dim, width=20, depth=3, input_bounds=fam.domain)
    pts = fam.points(n_interior=256, n_boundary=64, device="cpu")
    before = lampinn.evaluate(model, fam, theta)["mse"]
    hist = train(model, lambda m: fam.loss_terms(m, pts, theta), weights=fam.loss_weights, iters=150, lr=1e-2,
                 progress=False, device="cpu")
    assert hist.total[-1] < 0.5 * hist.total[0]
    assert set(hist.terms) == set(fam.loss_weights)
    assert lampinn.evaluate(model, fam, theta)["mse"] < before


# ---- Burgers ----------------------------------------------------------------------------------
BURGERS_CASES = [(0.01 / np.pi, 1.0, 0.0), (0.003, 1.5, 0.5), (0.03, 0.5, 0.25), (0.002456, 0.398, 0.1767)]


@pytest.mark.parametrize("theta", BURGERS_CASES)
def test_cole_hopf_quadrature_is_converged(theta):
    x, t = np.linspace(-1, 1, 256), np.linspace(0, 1, 101)
    coarse, fine = cole_hopf(x, t, *theta), cole_hopf(x, t, *theta, points_per_width=8)
    assert np.abs(coarse - fine).max() < 1e-10
    np.testing.assert_allclose(coarse[0], initial_condition(x, theta[1], theta[2]))
    assert np.abs(coarse[:, [0, -1]]).max() < 1e-12  # u(+-1, t) = 0


def test_cole_hopf_reproduces_the_published_maximum_slope():
    """Basdevant et al. (1986): for nu = 0.01/pi, max |u_x| = 152.00516 at x = 0, t = 1.6037/pi."""
    h = 1e-6
    u = cole_hopf(np.array([-h, 0.0, h]), np.array([1.6037 / np.pi]), 0.01 / np.pi, 1.0, 0.0)[0]
    assert abs(-(u[2] - u[0]) / (2 * h) - 152.00516) < 2e-3


@pytest.mark.parametrize("theta", [(0.03, 1.0, 0.25), (0.01, 1.5, 0.5)])
def test_cole_hopf_satisfies_burgers(theta):
    nu = theta[0]
    h = 1e-4
    rng = np.random.default_rng(0)
    for x0, t0 in zip(rng.uniform(-0.9, 0.9, 5), rng.uniform(0.1, 0.9, 5)):
        u = cole_hopf(x0 + np.array([-h, 0, h]), t0 + np.array([-h, 0, h]), *theta)
        u_t = (u[2, 1] - u[0, 1]) / (2 * h)
        u_x = (u[1, 2] - u[1, 0]) / (2 * h)
        u_xx = (u[1, 2] - 2 * u[1, 1] + u[1, 0]) / h**2
        assert abs(u_t + u[1, 1] * u_x - nu * u_xx) < 1e-5 * (1 + abs(u_t) + abs(nu * u_xx))


def test_burgers_reference_layout_and_cache():
    fam = lampinn.get_family("burgers")
    sol = fam.reference((0.01, 1.0, 0.25))
    assert sol.points.shape == (256 * 101, 2) and sol.values.shape == (256 * 101, 1)
    assert sol.shape == (101, 256) and sol.field().shape == (101, 256)
    np.testing.assert_array_equal(sol.field()[0], initial_condition(sol.axes[0], 1.0, 0.25))
    assert fam.reference([0.01, 1.0, 0.25]) is sol
    with pytest.raises(ValueError):
        sol.values[0, 0] = 1.0


def test_burgers_boundary_and_initial_terms_vanish_on_the_initial_profile():
    fam = lampinn.get_family("burgers")
    theta = (0.01, 1.2, 0.3)
    pts = as_points(fam)

    def model(x):  # equals u0(x) for every t: satisfies the boundary and initial conditions, not the PDE
        return initial_condition(x[..., 0], 1.2, 0.3).unsqueeze(-1)

    terms = fam.loss_terms(model, pts, theta)
    assert terms["boundary"] < 1e-28 and terms["initial"] < 1e-28 and terms["residual"] > 1e-3


# ---- Helmholtz --------------------------------------------------------------------------------
@pytest.mark.parametrize("theta", [(1.0, 4.0, 1.0), (2.902, 2.385, 2.463), (0.7392, 0.6939, 2.06)])
def test_helmholtz_loss_vanishes_on_the_exact_solution(theta):
    fam = lampinn.get_family("helmholtz")

    def model(x):
        return exact(x[..., 0], x[..., 1], theta[0], theta[1]).unsqueeze(-1)

    terms = fam.loss_terms(model, as_points(fam), theta)
    assert terms["residual"] < 1e-20 and terms["boundary"] < 1e-28
    wrong = fam.loss_terms(model, as_points(fam), (theta[0] + 0.5, theta[1], theta[2]))
    assert wrong["residual"] > 1e-3 and wrong["boundary"] > 1e-3


# ---- Elasticity -------------------------------------------------------------------------------
def closed_form(E, k):
    """Uniform traction k (f = 0): u = k x / E, v = -0.3 k y / E."""
    return lambda x: torch.stack([k * x[..., 0] / E, -0.3 * k * x[..., 1] / E], dim=-1)


def test_fem_reproduces_the_closed_form_solution():
    fam = lampinn.get_family("elasticity")
    pts = fam.grid().points
    basis, dofs = solve_fem(80.0, 0.0, 3.0, n=8)
    expected = np.stack([3 * pts[:, 0] / 80, -0.9 * pts[:, 1] / 80], axis=1)
    assert np.abs(fem_on_points(basis, dofs, pts) - expected).max() < 1e-8
    assert np.abs(fam.reference((80.0, 0.0, 3.0)).values - expected).max() < 1e-8


def test_fem_mesh_convergence():
    """P2 displacements converge at third order; the reference mesh is converged to ~1e-6 relative."""
    pts = lampinn.get_family("elasticity").grid().points
    sols = {n: fem_on_points(*solve_fem(100.0, 2.0, 5.0, n), pts) for n in (12, 24, MESH, 2 * MESH)}
    finest = sols[2 * MESH]
    err = {n: np.abs(sols[n] - finest).max() for n in (12, 24, MESH)}
    assert err[12] / err[24] > 6
    assert err[MESH] / np.abs(finest).max() < 1e-5


def test_elasticity_superposition_matches_a_direct_solve():
    fam = lampinn.get_family("elasticity")
    theta = (55.0, 1.8, 9.2)
    direct = fem_on_points(*solve_fem(*theta), fam.grid().points)
    np.testing.assert_allclose(fam.reference(theta).values, direct, atol=1e-12)


def test_elasticity_loss_vanishes_on_the_closed_form_case():
    fam = lampinn.get_family("elasticity")
    pts = as_points(fam, n_interior=500, n_boundary=50)
    terms = fam.loss_terms(closed_form(80.0, 3.0), pts, (80.0, 0.0, 3.0))
    assert max(float(v.detach()) for v in terms.values()) < 1e-24
    loaded = fam.loss_terms(closed_form(80.0, 3.0), pts, (80.0, 1.0, 3.0))
    assert loaded["right"] > 1e-2  # the cosine load is not carried by the uniform solution


def test_elasticity_metric_is_the_displacement_magnitude():
    fam = lampinn.get_family("elasticity")
    theta = (100.0, 0.0, 5.0)
    ref = fam.reference(theta)
    np.testing.assert_allclose(fam.metric_values(ref.values), np.hypot(ref.values[:, 0], ref.values[:, 1]))

    def flipped(x):  # same magnitude, opposite direction: zero error by the published metric
        return -closed_form(100.0, 5.0)(x)

    assert lampinn.evaluate(flipped, fam, theta)["mse"] < 1e-12


# ---- a family of your own: the public names and the messages a student meets (chapter 14) ------
from lampinn.pde import Family, as_param, draw_ood, draw_unseen, latin_hypercube, mse, tensor_grid  # noqa: E402


class Decay(Family):
    """u' = -k u on [0, 1] with u(0) = c: the smallest family, for the checks below."""

    name = "decay"
    param_names = ("k", "c", "s")
    bounds = {"k": (0.5, 2.0), "c": (0.5, 1.5), "s": (0.0, 1.0)}
    levels = {"k": (0.5, 1.0, 2.0), "c": (0.5, 1.0, 1.5), "s": (0.0, 0.5, 1.0)}
    input_names, output_names, domain = ("t",), ("u",), ((0.0, 1.0),)
    loss_weights = {"residual": 1.0, "initial": 10.0}

    def sample(self, n_interior=64, n_boundary=8, seed=0):
        return {"interior": latin_hypercube(self.domain, n_interior, seed), "initial": np.zeros((1, 1))}

    def loss_terms(self, model, points, theta):
        t = points["interior"].detach().requires_grad_(True)
        k, c = (as_param(self.theta_tensor(theta, t), i) for i in range(2))
        u = model(t)[..., 0]
        du = torch.autograd.grad(u.sum(), t, create_graph=True)[0][..., 0]
        return {"residual": mse(du + k * u), "initial": mse(model(points["initial"])[..., 0] - c)}

    def grid(self):
        return tensor_grid(np.linspace(0, 1, 11))

    def solve(self, theta):
        return (theta[1] * np.exp(-theta[0] * self.grid().points)).reshape(-1, 1)


def test_a_family_of_your_own_declares_its_held_out_tasks_with_public_attributes():
    class Declared(Decay):
        unseen = ((0.7, 0.8, 0.2), (1.6, 1.2, 0.9))
        ood = ((2.3, 1.0, 0.5),)

    fam = Declared()
    np.testing.assert_array_equal(fam.unseen_tasks(), np.array(Declared.unseen))
    assert fam.ood_tasks().shape == (1, 3)
    assert len(draw_unseen(fam)) == 10 and not any(fam.in_bounds(t) for t in draw_ood(fam))
    for name in ("burgers", "helmholtz", "elasticity"):  # the built-in families use the same attributes
        fam = lampinn.get_family(name)
        np.testing.assert_array_equal(fam.unseen_tasks(), np.array(type(fam).unseen))


@pytest.mark.parametrize("which", ["unseen", "ood"])
def test_undeclared_held_out_tasks_say_how_to_declare_them(which):
    fam = Decay()
    with pytest.raises(ValueError, match=rf"decay: the family declares no {which} tasks; declare them as a class "
                                         rf"attribute, {which} = \(\(\.\.\.\), \.\.\.\), one tuple of 3 parameters "
                                         rf"\(k, c, s\) per task; draw them once with lampinn.pde.draw_{which}") as info:
        getattr(fam, f"{which}_tasks")()
    assert "\n" not in str(info.value)

    class Short(Decay):
        unseen = ((0.7, 0.8, 0.2), (1.6, 1.2))

    with pytest.raises(ValueError, match="decay: unseen task 1 has 2 parameters, expected 3; declare them"):
        Short().unseen_tasks()


def test_a_loss_term_not_averaged_over_the_points_names_the_term():
    class Unaveraged(Decay):
        def loss_terms(self, model, points, theta):
            terms = super().loss_terms(model, points, theta)
            return {**terms, "initial": (model(points["initial"])[..., 0] - 1.0) ** 2}

    model = MLP(1, 1, width=8, depth=2)
    good = Decay()
    pts = good.points(16, device="cpu")
    assert good.loss_terms(model, pts, (1.0, 1.0, 0.5))["residual"].shape == ()
    with pytest.raises(ValueError, match=r"decay: loss term 'initial' has shape \(1,\), expected \(\) for one task; "
                                         r"average it over the points \(e.g. with lampinn.pde.mse\)"):
        Unaveraged().loss(model, pts, (1.0, 1.0, 0.5))
    stack = torch.tensor([[1.0, 1.0, 0.5], [2.0, 0.5, 0.5]])
    stacked = {k: v.expand(2, *v.shape) for k, v in pts.items()}
    with pytest.raises(ValueError, match=r"loss term 'initial' has shape \(2, 1\), expected \(2,\), one value per stacked task"):
        Unaveraged().loss(model, stacked, stack)


@pytest.mark.parametrize("name", NAMES)
def test_a_theta_tensor_of_the_wrong_length_says_what_is_expected(name):
    fam = lampinn.get_family(name)
    x = torch.zeros(4, fam.in_dim)
    assert fam.theta_tensor(torch.ones(2, 3), x).shape == (2, 3)
    for bad in (torch.ones(2), torch.ones(5, 2), torch.tensor(1.0)):
        with pytest.raises(ValueError, match=rf"{name}: theta has shape \({', '.join(map(str, bad.shape))},?\); "
                                             rf"expected \(3,\) for one task or \(T, 3\) for T stacked tasks"):
            fam.theta_tensor(bad, x)
