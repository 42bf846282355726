"""A progress bar for long work (areas, audits of datasets): on stderr, only on a terminal or when asked, never with -q."""

from __future__ import annotations

import contextlib
import sys

import click

__all__ = ["progress_bar", "progress_opt", "engine_opts", "quiet_cluster"]

progress_opt = click.option("--progress/--no-progress", "show_progress", default=None,
                            help="Show a progress bar (default: when stderr is a terminal; never with -q).")


def engine_opts(f):
    """--engine, --scheduler, --workers and --memory-limit, shared by every command the dask engine runs."""
    f = click.option("--memory-limit", default=None, metavar="SIZE",
                     help="Memory limit per local dask worker, e.g. 3GB (default: the machine's memory shared).")(f)
    f = click.option("--workers", type=int, default=None, help="Local dask workers (default: one per core).")(f)
    f = click.option("--scheduler", default=None, metavar="tcp://HOST:8786", envvar="DASK_SCHEDULER_ADDRESS",
                     help="Use this dask scheduler instead of a local cluster (also DASK_SCHEDULER_ADDRESS).")(f)
    f = click.option("--engine", type=click.Choice(["auto", "memory", "dask"]), default="auto", show_default=True,
                     help="memory: one frame in this process; dask: every partition of a GeoParquet dataset on a "
                          "dask cluster; auto: dask for a dataset folder or glob.")(f)
    return f


def _quiet() -> bool:
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("quiet"))


@contextlib.contextmanager
def quiet_cluster():
    """dask.distributed's own log lines (a worker restarted, a connection closed) only with -v: the command
    says in one line what went wrong."""
    import logging

    try:
        import distributed  # noqa: F401 - its import sets its loggers' levels: set ours after it
    except ImportError:
        pass
    names = ("distributed", "tornado", "asyncio", "bokeh")
    if logging.getLogger().getEffectiveLevel() > logging.INFO:
        for name in [*names, *(n for n in logging.root.manager.loggerDict if n.startswith(tuple(f"{x}." for x in names)))]:
            logging.getLogger(name).setLevel(logging.CRITICAL)
    yield  # not restored: the scheduler's threads may still log as the command ends


@contextlib.contextmanager
def progress_bar(show: bool | None = None):
    """Yield a ``progress(what, done, total)`` callback drawing a rich bar on stderr, or None when not shown."""
    if show is None:
        show = sys.stderr.isatty()
    if not show or _quiet():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ._common import err_console

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err_console, transient=False) as bar:
        tasks: dict = {}

        def progress(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(f"{what} (partitions)", total=total)
            bar.update(tasks[what], completed=done)

        yield progress
