"""The ``parkgis`` command: one group, thin subcommands over library functions.

Exit codes: 0 all good, 1 the check found problems, 2 the command could not run (a one-line
message; ``--debug`` shows the traceback).
"""

from __future__ import annotations

import logging
import sys

import click

from ..errors import ParkGISError
from ._common import Findings, err_console

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors.")
@click.version_option(package_name="parkgis")
@click.pass_context
def cli(ctx, debug, verbose, quiet):
    """parkgis: areas, land-intensity audits and briefing maps for development-zone planners."""
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)
    ctx.obj = {"debug": debug}


# subcommands register themselves on ``cli`` when imported
from . import areas  # noqa: E402,F401
from . import maps  # noqa: E402,F401
from . import audit  # noqa: E402,F401
from . import raster  # noqa: E402,F401


def main(argv=None) -> int:
    """Entry point: run the group and turn failures into exit codes 2 (could not run) and 1 (findings)."""
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="parkgis", standalone_mode=False)
    except Findings:
        return 1
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        err_console.print("parkgis: aborted")
        return 2
    except click.ClickException as exc:
        if debug:
            raise
        err_console.print(f"parkgis: error: {exc.format_message()}", markup=False, soft_wrap=True)
        return 2
    except ParkGISError as exc:
        if debug:
            raise
        err_console.print(f"parkgis: error: {exc}", markup=False, soft_wrap=True)
        return 2
    except (OSError, ValueError) as exc:  # anything the libraries raise about bad input
        if debug:
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        err_console.print(f"parkgis: error: {msg} (run with --debug for details)", markup=False, soft_wrap=True)
        return 2
    return 0
