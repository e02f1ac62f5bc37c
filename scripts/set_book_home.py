"""Point the book at another home: a fork's repository and branch, in every place that names it.

The book's home is set in two places that must agree (a test checks it):

* ``_config.yml``: ``repository: url`` and ``branch`` (the launch, repository and issue buttons);
* the first code cell of every chapter (the Colab set-up): ``BOOK_REPOSITORY, BOOK_REF = "...", "..."``,
  the repository and branch that Colab clones and installs the package from.

The Colab example link and the test workflow's badge in ``README.md`` follow when the URL is a GitHub
repository. Files are edited as text, so comments and the notebooks' JSON layout stay as they are.

    python scripts/set_book_home.py https://github.com/you/your-fork main
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETUP_LINE = re.compile(r'BOOK_REPOSITORY, BOOK_REF = \\"[^"\\]*\\", \\"[^"\\]*\\"')


def _check(url: str, ref: str) -> None:
    if not re.fullmatch(r"https://[^\s\"'\\]+", url):
        raise ValueError(f"repository URL {url!r} is not an https URL without spaces or quotes")
    if not re.fullmatch(r"[^\s\"'\\:~^?*\[]+", ref):
        raise ValueError(f"branch {ref!r} is not a valid branch or tag name")


def set_book_home(url: str, ref: str, root: Path = ROOT) -> list[Path]:
    """Rewrite the book's home to ``url`` at ``ref`` under ``root``; the files changed."""
    _check(url, ref)
    url = url.rstrip("/").removesuffix(".git")
    changed = []

    def write(path: Path, old: str, new: str) -> None:
        if new != old:
            path.write_text(new, encoding="utf-8")
            changed.append(path)

    config = root / "_config.yml"
    text = config.read_text(encoding="utf-8")
    block = re.search(r"^repository:\n((?:[ \t]+.*\n)+)", text, re.M)
    if not block or not re.search(r"^\s+url:", block.group(1), re.M) or not re.search(r"^\s+branch:", block.group(1), re.M):
        raise ValueError(f"{config}: no repository: block with url: and branch:")
    body = re.sub(r"^(\s+url:).*$", lambda m: f"{m.group(1)} {url}", block.group(1), flags=re.M)
    body = re.sub(r"^(\s+branch:).*$", lambda m: f"{m.group(1)} {ref}", body, flags=re.M)
    write(config, text, text[: block.start(1)] + body + text[block.end(1):])

    quoted = json.dumps(f'BOOK_REPOSITORY, BOOK_REF = "{url}", "{ref}"')[1:-1]
    for nb in sorted((root / "notebooks").glob("*.ipynb")):
        text = nb.read_text(encoding="utf-8")
        if not SETUP_LINE.search(text):
            raise ValueError(f"{nb}: no BOOK_REPOSITORY, BOOK_REF line in the Colab set-up cell")
        write(nb, text, SETUP_LINE.sub(lambda _m: quoted, text))

    github = re.fullmatch(r"https://github\.com/([^/]+/[^/]+)", url)
    readme = root / "README.md"
    if github and readme.exists():
        text = readme.read_text(encoding="utf-8")
        new = re.sub(r"(colab\.research\.google\.com/github/)[^/\s]+/[^/\s]+/blob/[^/\s]+/",
                     lambda m: f"{m.group(1)}{github.group(1)}/blob/{ref}/", text)
        new = re.sub(r"(https://github\.com/)[^/\s]+/[^/\s]+(/actions/workflows/)",
                     lambda m: f"{m.group(1)}{github.group(1)}{m.group(2)}", new)
        write(readme, text, new)
    return changed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the repository, e.g. https://github.com/you/your-fork")
    parser.add_argument("ref", help="the branch (or tag) that Colab clones and the buttons point at")
    parser.add_argument("--root", type=Path, default=ROOT, help="the book's folder (default: this checkout)")
    args = parser.parse_args(argv)
    try:
        changed = set_book_home(args.url, args.ref, args.root)
    except ValueError as err:
        sys.exit(f"set_book_home: {err}")
    print(f"{len(changed)} files changed" + "".join(f"\n  {p.relative_to(args.root)}" for p in changed))


if __name__ == "__main__":
    main()
