import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

import lampinn  # noqa: E402
from lampinn import settings  # noqa: E402
from lampinn.book import interactive, plot_reference  # noqa: E402
from lampinn.widgets import reference_explorer  # noqa: E402


def test_not_interactive_outside_a_kernel_or_when_static(monkeypatch):
    monkeypatch.delenv("LAMPINN_STATIC", raising=False)
    assert not interactive()  # pytest is no Jupyter kernel
    monkeypatch.setenv("LAMPINN_STATIC", "1")
    assert not interactive()


def test_static_figures_follow_the_settings(monkeypatch):
    """interactive() asks lampinn.settings.static(): in a kernel, widgets unless static figures are asked for."""
    import IPython

    class Kernel:
        kernel = object()

    monkeypatch.delenv("LAMPINN_STATIC", raising=False)
    monkeypatch.setattr(IPython, "get_ipython", lambda: Kernel())
    assert interactive()
    settings.set_static(True)
    assert not interactive()
    settings.set_static(False)
    monkeypatch.setenv("LAMPINN_STATIC", "1")  # the setter wins over the environment
    assert interactive()


@pytest.mark.parametrize("name", ["burgers", "helmholtz", "elasticity"])
def test_plot_reference_labels_axes_and_colour_bar(name):
    fam = lampinn.get_family(name)
    fig, ax = plt.subplots()
    plot_reference(ax, fam, fam.train_tasks()[13])
    assert ax.get_xlabel() == f"${fam.input_names[0]}$" and ax.get_ylabel() == f"${fam.input_names[1]}$"
    assert len(fig.axes) == 2  # the field and its colour bar
    plt.close(fig)


def test_explorer_static_fallback_draws_one_figure_of_the_central_task():
    """Chapter 2's static figure is the task it names: central_task (burgers: nu = 0.01), not the box's centre."""
    from lampinn.book import task_title
    from lampinn.protocol import central_task

    fam = lampinn.get_family("burgers")
    plt.close("all")
    assert reference_explorer(fam, static=True) is None
    assert len(plt.get_fignums()) == 1  # outside a kernel the figure stays open instead of showing
    ax = plt.gcf().axes[0]
    assert ax.get_title() == task_title(fam, central_task(fam)) == "nu=0.01, A=1, w=0.25"
    assert "the central task" in ax.texts[-1].get_text()
    reference_explorer(fam, [0.02, 1.0, 0.25], static=True)
    assert "the central task" not in plt.gcf().axes[0].texts[-1].get_text()
    plt.close("all")


def test_explorer_sliders_redraw_and_stay_physical():
    fam = lampinn.get_family("burgers")
    plt.close("all")
    box = reference_explorer(fam, static=False)
    sliders = {s.description: s for s in box.children[0].children}
    assert list(sliders) == list(fam.param_names)
    assert sliders["nu"].min > 0  # a viscosity slider never offers a non-physical value
    drawn = len(plt.get_fignums())  # outside a kernel the figures stay open instead of showing
    sliders["A"].value = 1.4  # triggers a redraw
    assert drawn == 1 and len(plt.get_fignums()) == 2
    assert plt.gcf().axes[0].get_title() == "nu=0.01, A=1.4, w=0.25"  # from the central task
    plt.close("all")
