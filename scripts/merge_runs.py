"""Merge two processes of one family's benchmark run into one folder (lampinn.benchmark.merge).

A full run fits a 2-core machine's time better as two processes, one thread each, on disjoint methods, each
in its own folder started empty at the same commit, for example

    OMP_NUM_THREADS=1 lampinn benchmark helmholtz --mode full --out A --seeds 3 --methods scratch_full ... zero
    OMP_NUM_THREADS=1 lampinn benchmark helmholtz --mode full --out B --seeds 3 --methods lampinn ablation_k1 ...

then, once both have finished,

    python scripts/merge_runs.py helmholtz full A B
    OMP_NUM_THREADS=1 lampinn benchmark helmholtz --mode full --out A --seeds 3

The second command finds every task done and writes A/helmholtz.json; its seconds are both processes' added
(one-core seconds).
"""
import sys

from lampinn.benchmark import merge


def main(argv: list[str]) -> None:
    if len(argv) != 4:
        raise SystemExit("usage: python scripts/merge_runs.py FAMILY MODE INTO_FOLDER OTHER_FOLDER")
    family, mode, into, other = argv
    done = merge(into, other, family, mode)
    tasks = sum(1 for k in done if not k.startswith("_") and not k.endswith("meta_seconds"))
    print(f"merged {other} into {into}: {tasks} finished tasks, {done['_seconds'] / 60:.1f} one-core minutes")


if __name__ == "__main__":
    main(sys.argv[1:])
