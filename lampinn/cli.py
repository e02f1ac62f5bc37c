"""The ``lampinn`` command line: ``lampinn reference FAMILY --theta v1,v2,v3 --out FILE.npz``."""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np

from .pde import FAMILIES, get_family


def _theta(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--theta {text!r} is not a comma-separated list of numbers") from None


def _reference(args: argparse.Namespace) -> None:
    fam = get_family(args.family)
    sol = fam.reference(args.theta)
    theta = fam.validate(args.theta)
    out = os.path.abspath(args.out)
    folder = os.path.dirname(out)
    if not os.path.isdir(folder):
        raise ValueError(f"--out {args.out!r}: folder {folder!r} does not exist")
    # Write next to the target, then rename, so no half-written file is ever left behind.
    fd, tmp = tempfile.mkstemp(suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(
                fh, points=sol.points, values=sol.values, shape=np.array(sol.shape), theta=theta,
                param_names=np.array(fam.param_names), input_names=np.array(fam.input_names),
                output_names=np.array(fam.output_names), family=np.array(fam.name),
            )
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise
    print(f"wrote {out}: {fam.name} reference at {dict(zip(fam.param_names, theta.tolist()))}, {len(sol.points)} points")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (usage stays available with --help)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="lampinn", description="Meta-learned PINNs: reference solutions and benchmarks.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    ref = sub.add_parser("reference", help="write a family's reference solution on its evaluation grid to an .npz file")
    ref.add_argument("family", choices=sorted(FAMILIES))
    ref.add_argument("--theta", required=True, type=_theta, help="the task's parameters, comma-separated, e.g. 0.01,1,0.25 (write --theta=-1,2,3 when the first is negative)")
    ref.add_argument("--out", required=True, help="the .npz file to write")
    ref.set_defaults(run=_reference)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lampinn`` command; returns 2 with a one-line error on bad input."""
    p = parser()
    args = p.parse_args(argv)
    try:
        args.run(args)
    except ValueError as err:
        p.exit(2, f"lampinn {args.command}: error: {err}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
