"""lampinn.report: the tables and figures made from benchmark results, and the generated blocks of the
README and the book; on the committed results in results/ and on small hand-made results."""
import ast
import json
from pathlib import Path

import numpy as np
import pytest

import lampinn
from lampinn import report
from lampinn.results import FAMILY_ORDER, load

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
PACKAGE = Path(lampinn.__file__).resolve().parent
TRAINING = {"benchmark", "baselines", "core", "methods", "protocol", "train"}
MSE = {"scratch_full": 1.0, "scratch_adapt": 4.0, "transfer": 2.0, "maml": 3.0, "reptile": 0.5, "lampinn": 0.25, "zero": 5.0}


def fake(family="burgers", mse=MSE, budget=100):
    """A small result of the benchmark's schema: three unseen and three OOD tasks, per-task MSE 0.5, 1 and 1.5 times
    the mean (OOD: ten times)."""
    def rows(scale):
        return {m: {"per_task_mse": [v * scale * f for f in (0.5, 1.0, 1.5)], "per_task_rel_l2": [0.1, 0.2, 0.3],
                    "mean_mse": v * scale, "std_over_seeds": 0.0, "seconds": {"meta": 12.0, "adapt": 3.0}}
                for m, v in mse.items()}
    lrs, factors = {"0.001": 2.0, "0.01": 1.0}, {"0.1": 3.0, "1.0": 1.0, "10.0": 0.5}
    return {"family": family, "mode": "ci", "budget": {"full": budget, "adapt": budget // 10},
            "sizes": {"budget": budget, "n_interior": 500, "n_boundary": 200}, "methods": rows(1), "ood": rows(10),
            "tuning": {"lr": dict.fromkeys(report.SETTING_LABELS, 0.01), "weight": dict.fromkeys(report.SETTING_LABELS, 10.0),
                       "mse": dict.fromkeys(report.SETTING_LABELS, lrs), "weight_mse": dict.fromkeys(report.SETTING_LABELS, factors)},
            "provenance": {"version": "0.1.0", "git_commit": "0123456789abcdef", "torch": "2.0", "device": "cpu (x86_64, 1 threads)",
                           "mode": "ci", "date": "2026-01-02T03:04:05+00:00", "command": f"lampinn benchmark {family} --mode ci --out o",
                           "seeds": 1, "seconds": 600.0}}


@pytest.fixture
def folder(tmp_path):
    """A results folder holding hand-made Helmholtz and Burgers results (no elasticity)."""
    for family, scale in (("helmholtz", 2.0), ("burgers", 1.0)):
        mse = {m: v * scale for m, v in MSE.items()}
        mse["lampinn"] = 0.25 if family == "burgers" else 7.0  # worse than transfer, MAML and Reptile on Helmholtz
        (tmp_path / f"{family}.json").write_text(json.dumps(fake(family, mse)))
    return tmp_path


# ---- reading results imports no training code ------------------------------------------------------
def module_level_imports(path):
    """The lampinn modules a file imports when it is imported (not inside functions, not under TYPE_CHECKING)."""
    names = set()

    def visit(statements):
        for node in statements:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                visit(node.orelse)
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                visit([*getattr(node, "body", []), *getattr(node, "orelse", []), *getattr(node, "finalbody", []),
                       *[s for h in getattr(node, "handlers", []) for s in h.body]])
            elif isinstance(node, ast.ImportFrom) and node.level == 1:  # from .x import y / from . import x
                names.update([node.module.split(".")[0]] if node.module else [a.name for a in node.names])
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lampinn"):
                parts = node.module.split(".")
                names.update([parts[1]] if len(parts) > 1 else [a.name for a in node.names])
            elif isinstance(node, ast.Import):
                names.update(a.name.split(".")[1] for a in node.names if a.name.startswith("lampinn."))
    visit(ast.parse(path.read_text()).body)
    return names


@pytest.mark.parametrize("module", ["results", "report"])
def test_reading_results_imports_no_training_code(module):
    imported = module_level_imports(PACKAGE / f"{module}.py")
    assert imported and not imported & TRAINING, sorted(imported & TRAINING)


def test_the_import_check_sees_imports():
    assert {"core", "methods", "protocol", "settings"} <= module_level_imports(PACKAGE / "benchmark.py")
    assert "core" not in module_level_imports(PACKAGE / "results.py")  # only under TYPE_CHECKING and in load_model


# ---- on hand-made results ------------------------------------------------------------------------------
def test_markdown_table_of_a_small_result():
    lines = report.markdown_table(fake()).splitlines()
    assert lines[0].startswith("| method | unseen mean MSE | ratio to LAM-PINN | OOD mean MSE |") and lines[1].startswith("|---")
    assert lines[2] == "| scratch_full | 1.000e+00 | 4.00 | 1.000e+01 | 12 | 3 |"
    assert [line.split(" | ")[0][2:] for line in lines[2:9]] == list(MSE) and "| lampinn | 2.500e-01 | 1.00 |" in lines[7]
    assert lines[8] == "| zero | 5.000e+00 | 20.00 | 5.000e+01 | 12 | 3 |"
    assert lines[-1] == "burgers, mode ci, B = 100, seeds 1, cpu (x86_64, 1 threads), torch 2.0, lampinn 0.1.0 (0123456789), 600 s."
    no_lampinn = fake(mse={"scratch_full": 1.0})
    assert "| scratch_full | 1.000e+00 | - |" in report.markdown_table(no_lampinn)


def test_tuning_table_and_wins_of_a_small_result():
    table = report.tuning_table(fake())
    assert table.startswith("Mean MSE on the four tuning (training) tasks, per Adam rate")
    rows = table.strip().splitlines()[2:]
    assert rows[0] == "| setting | Adam rate 1e-3 | 1e-2 | weights ×0.1 | 1 | 10 |"  # 6 columns, not 8
    assert rows[2:] == [f"| {label} | 2 | **1** | 3 | 1 | **0.5** |" for label in report.SETTING_LABELS.values()]
    untried = fake()
    untried["tuning"]["lr"]["lampinn"] = 0.5
    with pytest.raises(ValueError, match="the tuning of lampinn chose lr 0.5, which it did not try"):
        report.tuning_table(untried)
    widened = fake()  # one setting's sweep went a decade lower: a column for it, a dash in the other rows
    widened["tuning"]["weight_mse"] = {**widened["tuning"]["weight_mse"], "finetune": {"0.01": 0.2, "0.1": 3, "1.0": 1, "10.0": 0.5}}
    widened["tuning"]["weight"]["finetune"] = 0.01
    rows = report.tuning_table(widened).strip().splitlines()[2:]
    assert rows[0] == "| setting | Adam rate 1e-3 | 1e-2 | weights ×1e-2 | 0.1 | 1 | 10 |"
    assert rows[2] == f"| {report.SETTING_LABELS['scratch_full']} | 2 | **1** | – | 3 | 1 | **0.5** |"
    assert rows[4] == f"| {report.SETTING_LABELS['finetune']} | 2 | **1** | **0.2** | 3 | 1 | 0.5 |"
    assert report.wins(fake()) == {"scratch_full": 3, "scratch_adapt": 3, "transfer": 3, "maml": 3, "reptile": 3}
    assert report.wins(fake(), against=("lampinn",), method="reptile") == {"lampinn": 0}


def test_provenance_lines_of_a_small_result():
    lines = report.provenance_lines(fake()).splitlines()
    assert lines == ["command : lampinn benchmark burgers --mode ci --out o",
                     "commit  : 0123456789   lampinn 0.1.0   torch 2.0",
                     "machine : cpu (x86_64, 1 threads); 2026-01-02T03:04:05+00:00; 10.0 min in all",
                     "budget  : B = 100 Adam iterations from scratch, B/10 = 10 per adaptation",
                     "points  : 500 interior, 200 boundary"]


def test_provenance_lines_name_the_files_a_run_changed_since_its_commit():
    result = fake()
    result["provenance"]["git_changed"] = ["lampinn/methods.py"]
    commit = report.provenance_lines(result).splitlines()[1]
    assert commit == "commit  : 0123456789 with uncommitted changes to lampinn/methods.py   lampinn 0.1.0   torch 2.0"
    result["provenance"]["git_changed"] = []
    assert report.provenance_lines(result).splitlines()[1] == "commit  : 0123456789   lampinn 0.1.0   torch 2.0"


def test_git_state_names_the_commit_and_the_tracked_files_changed_since(tmp_path):
    """A run made from an edited checkout records which tracked files differ from its commit; untracked ones (a
    results folder, say) do not count. Outside a checkout: unknown."""
    import subprocess

    from lampinn.provenance import git_state

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    assert git_state(tmp_path) == ("unknown", [])
    git("init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "b.py").write_text("y = 1\n")
    git("add", "a.py", "b.py")
    git("commit", "-q", "-m", "first")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert git_state(tmp_path) == (head, [])
    (tmp_path / "b.py").write_text("y = 2\n")
    (tmp_path / "new.json").write_text("{}")
    assert git_state(tmp_path) == (head, ["b.py"])


def test_headline_and_provenance_tables_of_a_small_folder(folder):
    lines = report.headline(folder).splitlines()
    assert [line.split(" | ")[0] for line in lines[2:4]] == ["| burgers", "| helmholtz"]  # FAMILY_ORDER, present files only
    # (a) best of transfer, MAML, Reptile / LAM-PINN; (b) scratch B / LAM-PINN
    assert lines[2] == "| burgers | 0.25 | 1 | 4 | 2 | 3 | 0.5 | 5 | 2 | 4 |"
    assert lines[3] == "| helmholtz | 7 | 2 | 8 | 4 | 6 | 1 | 10 | 0.143 | 0.286 |"
    assert f"geometric mean over the families {np.sqrt(2 * 1 / 7):.3g} (the paper's 19.7 is measured under another protocol" in lines[5]
    assert f"geometric mean {np.sqrt(4 * 2 / 7):.3g}." in lines[5] and "B = 100 (ci mode), 1 seed; zero" in lines[5]
    three = fake("burgers")
    three["provenance"]["seeds"] = 3
    three["methods"]["lampinn"]["std_over_seeds"] = 0.0312
    (folder / "burgers.json").write_text(json.dumps(three))
    lines = report.headline(folder).splitlines()
    assert lines[2].startswith("| burgers | 0.25 ± 0.03 | 1 | ") and "1 or 3 seeds" in lines[5]  # no spread: no "± 0"
    assert report.ratios(three) == {"paper": 2.0, "cost": 4.0}
    table = report.provenance_table(folder).splitlines()
    assert len(table) == 4 and table[2].startswith("| burgers | `lampinn benchmark burgers --mode ci --out o` | 0123456789 |")
    assert table[2].endswith("| 2026-01-02 03:04 UTC | 10.0 |")


def test_update_blocks_rewrites_only_marked_blocks(folder, tmp_path):
    page = tmp_path / "page.md"
    original = "intro\n<!-- headline:start -->\nstale\n<!-- headline:end -->\nmiddle\n<!-- provenance:start --><!-- provenance:end -->\nend\n"
    page.write_text(original)
    assert report.update_blocks(page, folder) and not report.update_blocks(page, folder)
    assert page.read_text() == (f"intro\n<!-- headline:start -->\n{report.headline(folder)}<!-- headline:end -->\nmiddle\n"
                                f"<!-- provenance:start -->\n{report.provenance_table(folder)}<!-- provenance:end -->\nend\n")
    plain = tmp_path / "plain.md"
    plain.write_text("no blocks here\n")
    assert not report.update_blocks(plain, folder) and plain.read_text() == "no blocks here\n"
    assert set(report.BLOCKS) == {"headline", "solve", "provenance", "step", "executor"}
    with pytest.raises(FileNotFoundError, match="no result files"):
        report.headline(tmp_path / "plain.md.d")
    with pytest.raises(FileNotFoundError, match="step_benchmark.json does not exist; make it with: python scripts/step_benchmark.py"):
        report.step_table(tmp_path)
    with pytest.raises(FileNotFoundError, match="holds no runs; make one with: lampinn benchmark FAMILY --mode full"):
        report.executor_table(tmp_path)


def test_plots_of_a_small_result(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report.plot(fake(), tmp_path / "bars.png")
    assert (tmp_path / "bars.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fig, ax = plt.subplots()
    report.plot_bars(ax, fake(), methods=["maml", "lampinn"], split="ood")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["maml", "lampinn"]
    assert ax.get_xlabel() == "OOD task" and ax.get_yscale() == "log" and len(ax.patches) == 6
    plt.close(fig)


# ---- on the committed results ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def committed():
    return [load(f, RESULTS) for f in FAMILY_ORDER]


def test_headline_of_the_committed_results(committed):
    lines = report.headline(RESULTS).splitlines()
    assert len(lines) == 2 + len(FAMILY_ORDER) + 2
    cols = ("lampinn", "scratch_full", "scratch_adapt", "transfer", "maml", "reptile", "zero")
    both = []
    for line, result in zip(lines[2:], committed):
        mse = {c: result["methods"][c]["mean_mse"] for c in cols}
        cells = line.strip("| ").split(" | ")
        assert cells[0] == result["family"] and [c.split(" ± ")[0] for c in cells[1:8]] == [f"{mse[c]:.3g}" for c in cols]
        both.append((min(mse[c] for c in ("transfer", "maml", "reptile")) / mse["lampinn"], mse["scratch_full"] / mse["lampinn"]))
        assert cells[8:] == [f"{both[-1][0]:.3g}", f"{both[-1][1]:.3g}"]
    paper, cost = np.exp(np.mean(np.log(both), axis=0))
    assert f"geometric mean over the families {paper:.3g} (the paper" in lines[-1]
    assert f"geometric mean {cost:.3g}." in lines[-1] and "B = 1000 (full mode)" in lines[-1]


def test_tables_of_the_committed_results(committed, tmp_path):
    for result in committed:
        lines = report.markdown_table(result).splitlines()
        seeds = result["provenance"]["seeds"]
        names = [line.split(" | ")[0][2:] for line in lines[2:-2]]
        assert [n.split(" (")[0] for n in names] == list(result["methods"])
        for name, m in zip(names, result["methods"].values()):  # a method with fewer seeds than the run says so
            n = m.get("seeds", seeds)
            assert name.endswith(f"({n} seed)" if n == 1 else f"({n} seeds)") == (n < seeds)
        lam = result["methods"]["lampinn"]
        spread = f" ± {lam['std_over_seeds']:.1g}" if seeds > 1 and lam["std_over_seeds"] else ""
        assert f"| lampinn | {lam['mean_mse']:.3e}{spread} | 1.00 |" in lines[2 + list(result["methods"]).index("lampinn")]
        assert lines[-1].startswith(f"{result['family']}, mode full, B = 1000, seeds {seeds},")
        tuning = report.tuning_table(result).splitlines()
        rates, factors = (sorted({float(v) for tried in result["tuning"][k].values() for v in tried}) for k in ("mse", "weight_mse"))
        assert len(tuning[2].split(" | ")) == 1 + len(rates) + len(factors)  # no column beside the sweeps
        for row, setting in zip(tuning[4:], report.SETTING_LABELS):
            cells = row.strip("| ").split(" | ")
            assert cells[0] == report.SETTING_LABELS[setting]
            bold = [c.startswith("**") for c in cells[1:]]  # the chosen rate and the chosen factor, and only they
            t = result["tuning"]  # LAM-PINN's: its sweeps' pair, which fine-tuning's may have replaced
            sweep = t.get("pair", {}).get(setting, {}).get("sweep", {"lr": t["lr"][setting], "weight": t["weight"][setting]})
            assert [float(v) for v, b in zip(rates, bold) if b] == [sweep["lr"]]
            assert [float(v) for v, b in zip(factors, bold[len(rates):]) if b] == [sweep["weight"]]
        if "pair" in result["tuning"]:
            pair = result["tuning"]["pair"]["lampinn"]
            assert f"it adapts with {report._PAIRS[pair['chosen']]}." in tuning[-1]
        assert report.provenance_lines(result).startswith(f"command : lampinn benchmark {result['family']} --mode full")
        wins = report.wins(result)
        assert set(wins) == set(report.BASELINES) and all(0 <= v <= 10 for v in wins.values())
    provenance = report.provenance_table(RESULTS).splitlines()
    assert [row.split(" | ")[0] for row in provenance[2:]] == [f"| {f}" for f in FAMILY_ORDER]
    page = tmp_path / "page.md"
    page.write_text("<!-- headline:start --><!-- headline:end -->\n<!-- provenance:start --><!-- provenance:end -->\n")
    assert report.update_blocks(page, RESULTS) and not report.update_blocks(page, RESULTS)
    assert report.headline(RESULTS) in page.read_text() and report.provenance_table(RESULTS) in page.read_text()


def test_meta_validation_table_and_reader(tmp_path):
    from lampinn import health, results

    folder = tmp_path / "meta_validation"
    folder.mkdir()
    prov = {"command": "lampinn meta-validation burgers", "seconds": 1.0}
    full, ci = {"budget": 1000}, {"budget": 300}
    rows = [{"candidate": "ours", "mode": "ci", "sizes": ci, "score": 0.5, "mse": [0.5], "saturation": [0.9],
             "provenance": prov},
            {"candidate": health.BASELINE, "mode": "default", "sizes": full, "score": 0.02, "mse": [0.02],
             "provenance": prov},
            {"candidate": "ours", "mode": "full", "sizes": full, "score": 0.01, "mse": [0.01],
             "saturation": [0.0, 0.07, 0.05], "provenance": prov}]
    (folder / "burgers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    got = results.meta_validation("burgers", tmp_path)
    assert got == {health.BASELINE: rows[1], "ours": rows[2]}  # the last row's sizes, whatever the mode's name
    table = report.meta_validation_table({"burgers": got}, ("ours", "previous"), health.LABELS)
    lines = table.splitlines()
    assert lines[0] == "| setting | burgers |" and len(lines) == 5
    assert "| 2.00e-02 |" in lines[2] and "1.00e-02 (sat. 0.07)" in lines[3] and "not run" in lines[4]
    # a later run at other sizes replaces the table whole, never mixed with the older rows
    later = {**rows[0], "score": 0.03, "mse": [0.03]}
    (folder / "burgers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [*rows, later]))
    assert results.meta_validation("burgers", tmp_path) == {"ours": later}
    with pytest.raises(FileNotFoundError, match="lampinn meta-validation helmholtz"):
        results.meta_validation("helmholtz", tmp_path)
    (folder / "burgers.jsonl").write_text("{\"candidate\": \"ours\"}\n")
    with pytest.raises(ValueError, match="lacks"):
        results.meta_validation("burgers", tmp_path)


def test_tuned_validation_table_lists_fine_tuning_then_candidates_best_first():
    from lampinn.results import BASELINE

    agg = {BASELINE: {"scores": [0.02, 0.01], "score": 0.015},
           "no-meta": {"scores": [0.01, 0.03], "score": 0.02, "saturation": [0.0, 0.2, 0.1], "adapt_lr": [1e-3, 3e-3]},
           "step-0.1": {"scores": [0.004, 0.006], "score": 0.005, "saturation": [0.0, 0.05, 0.0], "adapt_lr": [1e-3, 1e-3]}}
    lines = report.tuned_validation_table(agg).splitlines()
    assert [line.split(" | ")[0] for line in lines[2:]] == [f"| {BASELINE}", "| step-0.1", "| no-meta"]
    assert lines[2].endswith("| 1.50e-02 | – | as tuned |") and lines[4].endswith("| 2.00e-02 | 0.20 | 1e-3, 3e-3 |")


@pytest.mark.parametrize("text, shown", [
    ("/venv/bin/lampinn benchmark helmholtz --mode full", "lampinn benchmark helmholtz --mode full"),
    ("/work/bench/lampinn/cli.py benchmark helmholtz --mode full", "lampinn benchmark helmholtz --mode full"),
    ("lampinn headline", "lampinn headline"),
    ("scripts/step_benchmark.py --out x", "scripts/step_benchmark.py --out x"),
])
def test_a_command_shows_as_the_lampinn_command_however_it_was_started(text, shown):
    from lampinn.provenance import shown_command

    assert shown_command(text) == shown


def _method(final, best=None, curves=None):
    """A method's entry as a result holds it, at one seed (``final``: each task's final MSE)."""
    m = {"per_seed_mse": [list(final)], "mean_mse": float(np.mean(final))}
    if best is not None:
        m.update(per_seed_best_mse=[list(best)], per_seed_curves=[curves])
    return m


def test_the_walk_changes_one_thing_per_row():
    # two tasks; curves evaluated every 10 of 1000 iterations: iteration 100 is index 10
    def curve(at100, final):
        return [1.0] * 10 + [at100] + [final] * 90

    paper = {"sizes": {"eval_every": 10}, "budget": {"adapt": 1000}, "methods": {
        "lampinn_released": _method([2, 4], [1, 1], [curve(8, 2), curve(8, 4)]),
        "transfer_untuned": _method([30, 30], [20, 20], [curve(40, 30)] * 2),
        "maml_untuned": _method([40, 40], [10, 20], [curve(50, 40)] * 2),
        "reptile_untuned": _method([50, 50], [50, 50], [curve(60, 50)] * 2),
        "transfer": _method([6, 6], [5, 5], [curve(9, 6)] * 2),
        "maml": _method([12, 12], [5, 5], [curve(4, 12)] * 2),
        "reptile": _method([9, 9], [9, 9], [curve(12, 9)] * 2)}}
    released = {"methods": {"lampinn_released": _method([5, 5])}}
    ours = {"methods": {"lampinn": {**_method([1, 3]), "mean_mse": 2.5}, "transfer": {**_method([4, 4]), "mean_mse": 3.0},
                        "maml": {**_method([7, 7]), "mean_mse": 7.0}, "reptile": {**_method([8, 8]), "mean_mse": 8.0}}}
    rows = report.walk(paper, released, ours)
    assert [r["change"] for r in rows] == list(report.WALK_ROWS)
    got = [(r["lampinn"], r["baseline"], r["baseline_mse"]) for r in rows]
    assert got == [(1, "maml", 15), (3, "transfer", 30), (3, "transfer", 6), (8, "maml", 4), (5, "transfer", 4),
                   (2, "transfer", 4), (2.5, "transfer", 3.0)]
    assert [r["ratio"] for r in rows] == pytest.approx([15, 10, 2, 0.5, 0.8, 2, 1.2])
    table = report.walk_table(rows)
    assert table.count("\n") == 2 + len(rows) and "| 4 | 100 adaptation iterations" in table
    # a fifth-row run that holds its own baselines: the row reads them, not the benchmark's
    released = {"methods": {"lampinn_released": _method([5, 5]), "transfer": _method([20, 20]),
                            "maml": _method([10, 10]), "reptile": _method([30, 30])}}
    fifth = report.walk(paper, released, ours)[4]
    assert (fifth["lampinn"], fifth["baseline"], fifth["baseline_mse"]) == (5, "maml", 10)
