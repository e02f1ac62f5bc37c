"""The GitHub workflows (.github/workflows/) run the README's two commands: `make test` on every push and pull
request, `make book` on a push to main, published with the official Pages actions. They cannot run here; this
reads them, so that a change to the Makefile, the README or a workflow that breaks the agreement fails a test."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"


def workflow(name: str) -> dict:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def steps(data: dict) -> list[dict]:
    return [step for job in data["jobs"].values() for step in job.get("steps", [])]


def runs(data: dict) -> str:
    return "\n".join(step["run"] for step in steps(data) if "run" in step)


def uses(data: dict) -> list[str]:
    return [step["uses"].split("@")[0] for step in steps(data) if "uses" in step]


def makefile_torch() -> str:
    return re.search(r"^TORCH \?= (.+)$", (ROOT / "Makefile").read_text(), re.M).group(1).strip()


def test_the_test_workflow_runs_make_test_on_every_push_and_pull_request():
    data = workflow("test.yml")
    assert {"push", "pull_request"} <= set(data["on"])
    assert not (data["on"]["push"] or {}).get("branches") and not (data["on"]["pull_request"] or {}).get("branches")
    assert re.search(r"^make test\b", runs(data), re.M)


def test_the_book_workflow_builds_with_make_book_and_deploys_to_pages():
    data = workflow("book.yml")
    assert data["on"]["push"]["branches"] == ["main"]
    assert re.search(r"^make book\b", runs(data), re.M)
    assert data["permissions"]["pages"] == "write" and data["permissions"]["id-token"] == "write"
    assert data["concurrency"]["group"] and data["concurrency"]["cancel-in-progress"] is False
    build, deploy = data["jobs"]["build"], data["jobs"]["deploy"]
    assert uses({"jobs": {"build": build}})[-2:] == ["actions/configure-pages", "actions/upload-pages-artifact"]
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"  # where `make book` writes the HTML (README)
    assert deploy["needs"] == "build" and uses({"jobs": {"deploy": deploy}}) == ["actions/deploy-pages"]
    assert deploy["environment"]["name"] == "github-pages"


@pytest.mark.parametrize("name", ["test.yml", "book.yml"])
def test_each_workflow_sets_up_python_3_11_with_pips_cache_and_the_makefiles_cpu_torch(name):
    data = workflow(name)
    setup = next(s for s in steps(data) if s.get("uses", "").startswith("actions/setup-python"))
    assert str(setup["with"]["python-version"]) == "3.11" and setup["with"]["cache"] == "pip"
    assert (ROOT / setup["with"]["cache-dependency-path"]).exists()
    pins = re.findall(r'TORCH="([^"]+?) --index-url https://download\.pytorch\.org/whl/cpu"', runs(data))
    assert pins == [makefile_torch()]  # the Makefile's pin, from PyTorch's CPU wheel index
    assert all("@v" in step["uses"] for step in steps(data) if "uses" in step)  # every action at a major version


def test_the_readme_shows_the_test_workflows_badge_near_the_top():
    readme = (ROOT / "README.md").read_text().splitlines()
    repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    badge = f"[![test]({repository}/actions/workflows/test.yml/badge.svg)]({repository}/actions/workflows/test.yml)"
    assert badge in readme[:5]
    assert "make test" in "\n".join(readme) and "make book" in "\n".join(readme)
