"""lampinn.settings: the mode and its sizes, static figures, the results folder and the thread policy.

Every setting comes from its setter, else from its environment variable, else a default; settings.py is
the only module of the package that reads the environment. The autouse fixture of conftest.py clears
the setters' values (``settings._set``) and restores PyTorch's thread count around every test.
"""
import re
from pathlib import Path

import pytest
import torch

import lampinn
from lampinn import settings

PACKAGE = Path(lampinn.__file__).resolve().parent
ENV = ("LAMPINN_MODE", "LAMPINN_STATIC", "LAMPINN_RESULTS", "LAMPINN_THREADS", "OMP_NUM_THREADS")


@pytest.fixture
def clean_env(monkeypatch):
    """No setting in the environment (the test sets what it needs)."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_mode_from_environment_setter_and_default(clean_env):
    assert settings.mode() == "default"
    clean_env.setenv("LAMPINN_MODE", "full")
    assert settings.mode() == "full"
    settings.set_mode("ci")  # the setter wins over the environment
    assert settings.mode() == "ci"
    settings._set.clear()
    assert settings.mode() == "full"


def test_bad_mode_is_one_line_naming_its_source(clean_env):
    clean_env.setenv("LAMPINN_MODE", "fast")
    with pytest.raises(ValueError, match="^LAMPINN_MODE='fast' is not a mode; expected one of ci, default, full, paper$"):
        settings.mode()
    with pytest.raises(ValueError, match="^mode='huge' is not a mode; expected one of ci, default, full, paper$"):
        settings.set_mode("huge")
    with pytest.raises(ValueError, match="^mode='huge' is not a mode"):
        settings.sizes("burgers", "huge")
    assert "mode" not in settings._set  # a bad value is not kept


def test_one_size_table_for_every_mode_with_family_overrides():
    keys = {"budget", "n_interior", "n_boundary", "stage1", "stage2", "maml", "reptile"}
    assert tuple(settings.SIZES) == settings.MODES == ("ci", "default", "full", "paper")
    assert all(set(row) == keys for mode, row in settings.SIZES.items() if mode != "paper")
    # the paper's protocol: B = 10,000, its stage lengths, evaluated every 10 iterations, unseen tasks only
    assert settings.SIZES["paper"] == {"budget": 10000, "n_interior": 1000, "n_boundary": 200, "stage1": 200,
                                       "stage2": 100, "maml": 100, "reptile": 50, "eval_every": 10, "ood": 0,
                                       "calibrate": 0}
    assert settings.sizes("elasticity", "paper")["n_interior"] == 500
    assert settings.SIZES["ci"] == {"budget": 300, "n_interior": 500, "n_boundary": 200, "stage1": 30, "stage2": 15,
                                    "maml": 20, "reptile": 10}
    # full mode: elasticity trains on 500 interior points, every other size and family as the table says
    assert settings.sizes("elasticity", "full") == {**settings.SIZES["full"], "n_interior": 500}
    assert settings.sizes("burgers", "full") == settings.SIZES["full"] == settings.sizes(None, "full")
    assert settings.sizes("elasticity", "ci") == settings.SIZES["ci"]
    # without a mode, the current one; the result is a copy, not the table's row
    settings.set_mode("default")
    assert settings.sizes("elasticity") == settings.SIZES["default"]
    settings.sizes()["budget"] = -1
    assert settings.SIZES["default"]["budget"] == 300
    # the book's mode is the tests' sizes (the tests check what the book prints); the benchmark's is B = 1000
    assert settings.SIZES["default"] == settings.SIZES["ci"] and settings.SIZES["full"]["budget"] == 1000


def test_pick_follows_the_mode():
    settings.set_mode("ci")
    assert settings.pick(ci=1, default=2) == 1
    settings.set_mode("default")
    assert settings.pick(ci=1, default=2, full=3) == 2
    settings.set_mode("full")
    assert settings.pick(ci=1, default=2) == 2 and settings.pick(ci=1, default=2, full=3) == 3
    settings.set_mode("paper")
    assert settings.pick(ci=1, default=2) == 2 and settings.pick(ci=1, default=2, full=3) == 3


def test_static_from_environment_and_setter(clean_env):
    assert settings.static() is False
    for value, expected in (("1", True), ("yes", True), ("0", False), ("", False)):
        clean_env.setenv("LAMPINN_STATIC", value)
        assert settings.static() is expected, value
    settings.set_static(True)
    assert settings.static() is True
    clean_env.setenv("LAMPINN_STATIC", "1")
    settings.set_static(0)
    assert settings.static() is False


def test_results_folder_from_environment_and_setter(clean_env, tmp_path):
    assert settings.results_folder() is None
    clean_env.setenv("LAMPINN_RESULTS", str(tmp_path / "env"))
    assert settings.results_folder() == tmp_path / "env"
    settings.set_results(tmp_path / "set")
    assert settings.results_folder() == tmp_path / "set"
    settings.set_results(None)  # look for results/ again, whatever the environment says
    assert settings.results_folder() is None


def test_threads_policy(clean_env):
    assert settings.threads() == 1  # the default: one thread
    clean_env.setenv("OMP_NUM_THREADS", "3")
    assert settings.threads() == 3
    clean_env.setenv("LAMPINN_THREADS", "2")  # wins over OMP_NUM_THREADS
    assert settings.threads() == 2
    clean_env.setenv("LAMPINN_THREADS", "")  # empty: not set
    assert settings.threads() == 3
    assert settings.set_threads(2) == 2 and torch.get_num_threads() == 2  # the setter wins and applies it
    assert settings.threads() == 2
    settings._set.clear()
    assert settings.set_threads() == 3 and torch.get_num_threads() == 3  # None: the policy's choice


@pytest.mark.parametrize("variable", ["LAMPINN_THREADS", "OMP_NUM_THREADS"])
@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_bad_thread_counts_in_the_environment(clean_env, variable, value):
    clean_env.setenv(variable, value)
    with pytest.raises(ValueError) as info:
        settings.threads()
    assert str(info.value) == f"{variable}={value!r} is not a number of threads; expected a whole number >= 1"


@pytest.mark.parametrize("value", [0, -1, 1.5, "2", True])
def test_bad_thread_counts_given_to_the_setter(value):
    before = torch.get_num_threads()
    with pytest.raises(ValueError, match=re.escape(f"threads={value!r} is not a number of threads")) as info:
        settings.set_threads(value)
    assert "\n" not in str(info.value)
    assert "threads" not in settings._set and torch.get_num_threads() == before


def test_only_settings_reads_the_environment():
    """settings.py is the one module that reads environment variables (os.environ, os.getenv)."""
    readers = sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                     if re.search(r"os\.environ|getenv|environ\[", path.read_text()))
    assert readers == ["settings.py"]


def test_one_device_choice_that_every_default_follows(monkeypatch):
    from lampinn.nn import default_device

    monkeypatch.delenv("LAMPINN_DEVICE", raising=False)
    assert settings.device() == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv("LAMPINN_DEVICE", "cpu")
    assert settings.device() == "cpu" and default_device() == torch.device("cpu")
    settings.set_device("meta")  # the setter wins over the environment; every default follows it
    assert default_device() == torch.device("meta") and default_device("cpu") == torch.device("cpu")
    fam = lampinn.get_family("burgers")
    assert fam.points(10, 10).get("interior").device.type == "meta"
    settings.set_device(None)
    assert settings.device() == "cpu"
    with pytest.raises(ValueError, match="device 'gpu0' is not a PyTorch device"):
        settings.set_device("gpu0")
