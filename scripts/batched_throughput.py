"""Measure what task-batched training buys on this machine (chapter 3 quotes its output).

    python scripts/batched_throughput.py [FAMILY] [--iters N]
"""
import argparse
import platform

import torch

import lampinn
from lampinn.baselines import throughput
from lampinn.protocol import Protocol

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("family", nargs="?", default="burgers", choices=sorted(lampinn.pde.FAMILIES))
parser.add_argument("--iters", type=int, default=50)
parser.add_argument("--tasks", default="1,4,9,27", help="comma-separated task counts")
args = parser.parse_args()
protocol = Protocol(device="cpu")
print(f"{args.family}, {protocol.width}x{protocol.depth} tanh MLP, {protocol.n_interior} interior points, "
      f"{args.iters} iterations; torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
print(f"{'tasks':>5} {'batched it/s':>13} {'one-by-one it/s':>16} {'speed-up':>9}")
for row in throughput(lampinn.get_family(args.family), protocol, [int(n) for n in args.tasks.split(",")], args.iters):
    print(f"{row['tasks']:>5} {row['batched']:>13.1f} {row['sequential']:>16.1f} {row['speedup']:>9.2f}")
