"""The ``parkgis`` command: one group, thin subcommands over library functions.

Exit codes: 0 all good, 1 the check found problems, 2 the command could not run (a one-line
message; ``--debug`` shows the traceback).
"""

from __future__ import annotations

import gc
import logging
import sys
import warnings

import click

from ..errors import ParkGISError
from ._common import Findings, err_console

__all__ = ["cli", "main", "run_script"]


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
    # libraries' warnings (GDAL via pyogrio/rasterio) are log lines at INFO, not multi-line stderr noise
    warnings.showwarning = _warning_to_log
    ctx.obj = {"debug": debug}


def _warning_to_log(message, category, filename, lineno, file=None, line=None):
    logging.getLogger("gis.libraries").info("%s: %s", category.__name__, str(message).splitlines()[0] if str(message) else "")


# subcommands register themselves on ``cli`` when imported
from . import areas  # noqa: E402,F401
from . import maps  # noqa: E402,F401
from . import audit  # noqa: E402,F401
from . import raster  # noqa: E402,F401
from . import db  # noqa: E402,F401


_FLAGS = {"crs": "--crs", "layer": "--layer", "encoding": "--encoding", "overwrite": "--overwrite",
          "source_crs": "--from", "band": "--band"}


def advice(exc: ParkGISError) -> str:
    """The library's message plus flag advice for the setting it asks for (library messages name no flags)."""
    msg = _one_line(exc)
    flag = _FLAGS.get(getattr(exc, "setting", None) or "")
    if not flag:
        return msg
    if getattr(exc, "choices", None):
        return f"{msg}: choose one with {flag} ({', '.join(map(str, exc.choices))})"
    if flag == "--overwrite":
        return f"{msg}: pass --overwrite to replace it, or choose another name"
    return f"{msg}: pass {flag} {exc.suggestion or '…'}"


def _one_line(exc) -> str:
    text = str(exc).strip()
    return " ".join(text.split("\n")[0].split()) if text else type(exc).__name__


def main(argv=None) -> int:
    """Entry point: run the group and turn failures into exit codes 2 (could not run) and 1 (findings).

    Every exception ends as one line on stderr and exit 2; ``--debug`` adds the traceback and keeps
    the exit code.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args
    # Python's cycle collector rescans every live object as the count of allocations grows: a million
    # geometries and findings make that 11 % of an audit (2.1 of 18.4 s at 1 M parcels). Frames and
    # geometries hold few cycles, so it runs rarely while a command works (the thresholds are restored after).
    thresholds = gc.get_threshold()
    gc.set_threshold(200_000, 50, 100)
    try:
        cli.main(args=args, prog_name="parkgis", standalone_mode=False)
    except Findings:
        return 1
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        err_console.print("parkgis: aborted")
        return 2
    except click.ClickException as exc:
        _say(f"parkgis: error: {_one_line(exc.format_message())}", debug)
        return 2
    except ParkGISError as exc:
        _say(f"parkgis: error: {advice(exc)}", debug)
        return 2
    except (OSError, ValueError, MemoryError) as exc:  # what the libraries raise about bad input or a full disk
        _say(f"parkgis: error: {_one_line(exc)} (run with --debug for details)", debug)
        return 2
    except Exception as exc:  # noqa: BLE001 - a bug of ours must still end in one line and exit 2
        _say(f"parkgis: internal error: {type(exc).__name__}: {_one_line(exc)} (a bug in parkgis: run with "
             f"--debug for the traceback and report it)", debug)
        return 2
    finally:
        gc.set_threshold(*thresholds)
    return 0


def run_script(entry, argv=None, *, name: str = "script") -> int:
    """Run a script's ``entry(argv)`` with the command line's error handling: one line and exit 2 on any error."""
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args
    if debug:
        args.remove("--debug")
    try:
        return int(entry(args) or 0)
    except SystemExit as exc:  # argparse's own usage errors (exit 2) and explicit exits
        return exc.code if isinstance(exc.code, int) else 2
    except KeyboardInterrupt:
        err_console.print(f"{name}: aborted")
        return 2
    except ParkGISError as exc:
        _say(f"{name}: error: {advice(exc)}", debug)
        return 2
    except Exception as exc:  # noqa: BLE001 - a script's failure is one line too
        _say(f"{name}: error: {type(exc).__name__}: {_one_line(exc)} (run with --debug for the traceback)", debug)
        return 2


def _say(line: str, debug: bool) -> None:
    if debug:
        import traceback

        traceback.print_exc(file=sys.stderr)
    err_console.print(line, markup=False, soft_wrap=True)
