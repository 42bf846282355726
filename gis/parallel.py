"""Whole-array work split across the machine's cores, in threads of one process.

shapely's vectorised functions, pyproj's ``transform`` and numpy's ufuncs release the GIL while they
run, so chunks of one array can be worked on at once by threads of one process: nothing is copied or
pickled, and the result is the same array a single call returns (each element is computed by the same
function, only in another thread). The reader's WKB parsing, the validity check, the area measurement
and the writer's WKB encoding use it on large arrays; small arrays (under :data:`MIN_CHUNK` rows a
thread) run in the calling thread.

Work is split only from the main thread: a call made inside a worker thread — ours, or a dask
worker's task, whose workers already use every core — runs in that thread, so threads never wait on
threads and a cluster is never oversubscribed. ``PARKGIS_THREADS`` sets the number of threads
(``1`` turns splitting off); the default is the number of cores this process may use.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

__all__ = ["MIN_CHUNK", "n_threads", "chunk_bounds", "run_all", "map_chunks", "map_array"]

MIN_CHUNK = 25_000
"""Fewest rows worth a thread of their own (below this, starting the work costs more than it saves)."""

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def n_threads() -> int:
    """Threads to split work over: ``PARKGIS_THREADS`` if set, else the cores this process may use."""
    given = os.environ.get("PARKGIS_THREADS", "").strip()
    if given:
        try:
            return max(1, int(given))
        except ValueError:
            return 1
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def chunk_bounds(n: int, *, min_chunk: int | None = None) -> list[tuple[int, int]]:
    """``[(start, stop), …]`` splitting ``n`` rows into one chunk per thread (one chunk when splitting is off
    or not worth it, or when called from a thread other than the main one)."""
    k = min(n_threads(), n // max(1, MIN_CHUNK if min_chunk is None else min_chunk))
    if k <= 1 or threading.current_thread() is not threading.main_thread():
        return [(0, n)]
    edges = np.linspace(0, n, k + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=max(2, n_threads()), thread_name_prefix="parkgis")
        return _POOL


def run_all(tasks) -> list:
    """``[task() for task in tasks]``, run at once in threads (the first in the calling thread); every task
    has finished, failed or not, before anything is returned or raised. From a thread other than the main
    one the tasks run one after the other."""
    tasks = list(tasks)
    if len(tasks) <= 1 or threading.current_thread() is not threading.main_thread():
        return [t() for t in tasks]
    futures = [_pool().submit(t) for t in tasks[1:]]
    try:
        first = tasks[0]()
    finally:
        wait(futures)
    return [first] + [f.result() for f in futures]


def map_chunks(fn, n: int, *, min_chunk: int | None = None) -> list:
    """``[fn(start, stop) for each chunk]`` over ``n`` rows, the chunks run at once in threads.

    ``fn`` gets a row range and returns that range's result; the caller joins the results (they come
    in row order). An exception in any chunk is raised here, after every chunk has finished.
    """
    return run_all([lambda a=a, b=b: fn(a, b) for a, b in chunk_bounds(n, min_chunk=min_chunk)])


def map_array(fn, arr, *, min_chunk: int | None = None):
    """``fn(arr)`` for a vectorised ``fn`` whose result has one row per element of ``arr``, computed chunk
    by chunk in threads and concatenated (the same array one call returns)."""
    parts = map_chunks(lambda a, b: fn(arr[a:b]), len(arr), min_chunk=min_chunk)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)

