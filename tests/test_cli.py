import numpy as np
import pytest

import lampinn
from lampinn.cli import main


@pytest.mark.parametrize("name, theta", [("burgers", "0.01,1,0.25"), ("helmholtz", "1,4,1"), ("elasticity", "55,1.8,9.2")])
def test_reference_writes_the_grid_and_values(tmp_path, capsys, name, theta):
    out = tmp_path / "ref.npz"
    assert main(["reference", name, "--theta", theta, "--out", str(out)]) == 0
    data = np.load(out)
    sol = lampinn.get_family(name).reference([float(v) for v in theta.split(",")])
    np.testing.assert_array_equal(data["points"], sol.points)
    np.testing.assert_array_equal(data["values"], sol.values)
    assert tuple(data["shape"]) == sol.shape and str(data["family"]) == name
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["reference", "poisson", "--theta", "1,2,3"], "invalid choice: 'poisson'"),
        (["reference", "burgers", "--theta", "0.01,1"], "got 2 parameters, expected 3"),
        (["reference", "burgers", "--theta", "0.01,x,1"], "not a comma-separated list of numbers"),
        (["reference", "burgers", "--theta=-0.01,1,0"], "nu = -0.01 is not physical"),
        (["reference", "elasticity", "--theta", "nan,1,2"], "E = nan is not finite"),
        (["reference", "burgers", "--theta", "0.01,1,0", "--out", "/no/such/folder/x.npz"], "does not exist"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, argv, message):
    if "--out" not in argv:
        argv = argv + ["--out", str(tmp_path / "x.npz")]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_benchmark_help_says_how_to_benchmark_a_family_of_your_own(capsys):
    with pytest.raises(SystemExit):
        main(["benchmark", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "a built-in family: burgers, elasticity, helmholtz" in out
    assert "call the Python function lampinn.benchmark.benchmark(MyFamily(), mode, out), which takes any family" in out


def test_meta_validation_command_rejects_unknown_candidates_and_devices_in_one_line(tmp_path, capsys):
    out = str(tmp_path / "x.jsonl")
    for argv, message in (
        (["meta-validation", "burgers", "--mode", "ci", "--out", out, "--candidates", "best"], "invalid choice: 'best'"),
        (["meta-validation", "burgers", "--mode", "ci", "--out", out, "--device", "tpu"], "tpu"),
    ):
        with pytest.raises(SystemExit) as info:
            main(argv)
        err = capsys.readouterr().err
        assert info.value.code == 2 and message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_diversity_command_refuses_a_narrower_box_before_running_anything(tmp_path, capsys):
    out = tmp_path / "map"
    with pytest.raises(SystemExit) as info:
        main(["diversity", "helmholtz", "--out", str(out), "--widths", "1", "0.5", "--workers", "1"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "width 0.5 is invalid" in err and err.count("\n") == 1
    assert not out.exists()
