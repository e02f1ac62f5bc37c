"""Where independent jobs run: in this process, in a pool of processes on this machine, or on a Dask cluster.

A benchmark run (:mod:`lampinn.benchmark`) and a meta-validation record (:mod:`lampinn.health`) are many
independent jobs: tuning trials, meta-trainings, one adaptation per task. Both hand them to a
:class:`concurrent.futures.Executor` and record each result as it arrives, so the same code runs

* ``workers=1``: in this process, one job at a time (:class:`Inline`);
* ``workers=N``: in ``N`` processes of this machine (:class:`~concurrent.futures.ProcessPoolExecutor`,
  started with ``spawn``: a fork of a process that has started PyTorch's threads can hang);
* ``scheduler="tcp://HOST:PORT"``: on a Dask cluster (``distributed.Client(...).get_executor()``, which
  implements the same interface; ``pip install "lampinn[cluster]"``). Start it with ``dask scheduler`` and
  ``dask worker ADDRESS --nthreads 1`` on each machine; the workers need this package and the run's output
  folder at the same path (a shared file system), since meta-trained networks are passed on through it.

Every job runs on one thread (:func:`call`), whatever the executor: the numbers of a run do not depend on
how many workers ran it (a test checks it bit for bit), and N one-thread workers use N cores without the
spinning of several multi-threaded PyTorch processes on the same cores.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import time
from collections.abc import Callable, Hashable, Iterator
from typing import Any

import torch
from threadpoolctl import threadpool_limits


#: How long to wait for a Dask scheduler to answer.
CONNECT_SECONDS = 30


class Inline(cf.Executor):
    """An executor that runs each job in this process when it is submitted (``workers=1``)."""

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> cf.Future:  # type: ignore[override]
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as err:  # noqa: BLE001 (delivered to whoever asks for the result, as a pool would)
            future.set_exception(err)
        return future


def cores() -> int:
    """The cores this process may run on (the default number of workers)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def executor(workers: int = 1, scheduler: str | None = None) -> Iterator[tuple[cf.Executor, int, str]]:
    """The executor for ``workers`` local processes, or for the Dask cluster at ``scheduler``; yields it with how
    many jobs to keep in flight (a cluster's: its worker threads when the run starts) and a description for the
    provenance (``"inline"``, ``"processes: 2"``, ``"dask: tcp://...: 8 worker threads"``)."""
    if scheduler is not None:
        try:
            from distributed import Client
        except ImportError:
            raise ValueError(f"--scheduler {scheduler!r} needs Dask's distributed package; "
                             f"install it with: pip install 'lampinn[cluster]'") from None
        try:
            client = Client(scheduler, timeout=CONNECT_SECONDS)
        except OSError as err:
            raise ValueError(f"--scheduler {scheduler!r}: no Dask scheduler answered ({err})") from None
        try:
            slots = sum(client.nthreads().values())
            if slots < 1:
                raise ValueError(f"--scheduler {scheduler!r} has no workers; start some with: dask worker {scheduler}")
            yield client.get_executor(pure=False), slots, f"dask: {scheduler}: {slots} worker threads"
        finally:
            client.close()
        return
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"--workers must be a whole number >= 1, got {workers!r}")
    if workers == 1:
        yield Inline(), 1, "inline"
        return
    pool = cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield pool, workers, f"processes: {workers}"
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def call(fn: Callable, *args: Any) -> dict:
    """Run ``fn(*args)`` on one thread, PyTorch's and the BLAS's under NumPy (whose sums otherwise round differently
    with the thread count); ``{"value": ..., "seconds": wall-clock, "cpu_seconds": this process's CPU}``. The thread
    counts are restored afterwards (an inline job must not change its caller's)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    start, cpu = time.perf_counter(), time.process_time()
    try:
        with threadpool_limits(limits=1):
            value = fn(*args)
    finally:
        torch.set_num_threads(threads)
    return {"value": value, "seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}


def run_jobs(pool: cf.Executor, slots: int, jobs: dict | Callable[[], dict]) -> Iterator[tuple[Hashable, dict]]:
    """Run ``jobs`` (``{key: (fn, *args)}``, or a function that returns the jobs ready now, asked again after every
    result) on ``pool``, at most ``slots`` at a time, each through :func:`call`; yield ``(key, result)`` as each
    finishes. If a job raises, nothing new starts, the jobs still running are finished and yielded, then the first
    error is raised; if a worker died, :class:`WorkerDied` names the jobs that were in flight."""
    finished_keys: set = set()
    if not callable(jobs):
        static, jobs = dict(jobs), (lambda: {k: v for k, v in static.items() if k not in finished_keys})
    inflight: dict[cf.Future, Hashable] = {}
    errors: list[tuple[Hashable, BaseException]] = []
    while True:
        if not errors:
            for key, (fn, *args) in jobs().items():
                if len(inflight) >= slots:
                    break
                if key not in inflight.values():
                    inflight[pool.submit(call, fn, *args)] = key
        if not inflight:
            break
        done, _ = cf.wait(inflight, return_when=cf.FIRST_COMPLETED)
        for future in sorted(done, key=lambda f: str(inflight[f])):
            key = inflight.pop(future)
            try:
                result = future.result()
            except Exception as err:  # noqa: BLE001 (raised once every running job is in)
                errors.append((key, err))
                continue
            finished_keys.add(key)
            yield key, result
    lost = [" ".join(map(str, k)) if isinstance(k, tuple) else str(k) for k, err in errors if died(err)]
    if lost:  # which of the jobs in flight killed its worker, the pool cannot tell
        raise WorkerDied(f"a worker died ({type(errors[0][1]).__name__}) while running one of: {', '.join(lost)}")
    if errors:
        raise errors[0][1]


class WorkerDied(RuntimeError):
    """A worker process died (killed, or out of memory) while it ran a job; what had finished is kept."""


def died(err: BaseException) -> bool:
    """Whether ``err`` says a worker process died (rather than a job raising)."""
    return isinstance(err, cf.process.BrokenProcessPool) or type(err).__name__ == "KilledWorker"


__all__ = ["Inline", "WorkerDied", "call", "cores", "died", "executor", "run_jobs"]
