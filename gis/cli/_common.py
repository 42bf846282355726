"""Options and output helpers shared by every subcommand (defined once, as in rasterio's rio)."""

from __future__ import annotations

import click
import pandas as pd
from rich.console import Console
from rich.table import Table

__all__ = ["console", "err_console", "overwrite_opt", "crs_opt", "layer_opt", "encoding_opt", "out_opt", "from_opt",
           "print_frame", "Findings", "read_input", "say_notices"]

import os
import sys

# on a terminal rich fits the window; piped into a file or a test, a wide table (or $COLUMNS) reads better
console = Console(highlight=False, width=None if sys.stdout.isatty() else int(os.environ.get("COLUMNS") or 160))
err_console = Console(stderr=True, highlight=False)

overwrite_opt = click.option("--overwrite", is_flag=True, help="Replace an existing output file (never an input).")
crs_opt = click.option("--crs", default=None, metavar="EPSG:n", help="CRS of input data that has none (e.g. EPSG:4544).")
layer_opt = click.option("--layer", "--sheet", "layer", default=None,
                         help="Layer or sheet of a source holding several (GeoPackage, zip, folder, .osm, XLSX).")
from_opt = click.option("--from", "source_crs", default=None, type=click.Choice(["gcj02", "bd09", "wgs84"], case_sensitive=False),
                        help="The input's coordinates are Amap/DataV/Tencent GCJ-02 or Baidu BD-09: converted to WGS84 first.")
encoding_opt = click.option("--encoding", default=None, help="Text encoding of a shapefile/CSV (detected when omitted).")


def out_opt(help_text: str = "Output file; its extension picks the format."):
    return click.option("--out", "out", default=None, type=click.Path(dir_okay=False), help=help_text)


class Findings(Exception):
    """Raised by a command to end with exit code 1 (the check found problems) after printing its report."""


def print_frame(df: pd.DataFrame, *, title: str | None = None, float_digits: int = 2, max_rows: int = 60,
                columns=None) -> None:
    """A readable rich table of a DataFrame on the terminal (geometry left out; ``columns`` to pick some).

    Numbers are never cut. On a narrow terminal long text is cut with … and the columns that do not
    fit are left out (the first columns are kept, the rest named below the table).
    """
    from rich.cells import cell_len

    if columns is not None:
        df = df[[c for c in columns if c in df.columns]]
    if hasattr(df, "geometry") and "geometry" in df.columns:
        df = pd.DataFrame(df.drop(columns="geometry"))
    shown = df if len(df) <= max_rows else df.head(max_rows)
    numeric = {c: pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]) for c in df.columns}
    cells = {}
    for col in df.columns:
        out = []
        for v in shown[col].tolist():
            if v is None or v is pd.NA or (isinstance(v, float) and pd.isna(v)):
                out.append("")
            elif numeric[col] and isinstance(v, float):
                out.append(f"{v:,.{float_digits}f}")
            else:
                out.append(str(v).replace("\n", " "))
        cells[col] = out
    width = console.width or 160
    text_cap = 32 if width >= 120 else 18
    natural = {c: max([cell_len(str(c))] + [cell_len(x) for x in cells[c]]) for c in df.columns}
    need = {c: natural[c] if numeric[c] else min(natural[c], max(text_cap, min(cell_len(str(c)), 12))) for c in df.columns}
    kept, used = [], 1
    for c in df.columns:
        if used + need[c] + 3 > width and kept:
            break
        kept.append(c)
        used += need[c] + 3
    table = Table(title=title, show_lines=False)
    for col in kept:
        if numeric[col]:
            table.add_column(str(col), justify="right", no_wrap=True, min_width=need[col])
        else:
            table.add_column(str(col), justify="left", no_wrap=True, overflow="ellipsis", max_width=need[col])
    for i in range(len(shown)):
        table.add_row(*[cells[c][i] for c in kept])
    console.print(table)
    left_out = [str(c) for c in df.columns if c not in kept]
    if left_out:
        console.print(f"({len(left_out)} more columns not shown at this width: {', '.join(left_out)}; "
                      f"write them all with --out FILE)")
    if len(df) > max_rows:
        console.print(f"… {len(df) - max_rows} more rows: write them all with --out FILE")


def say_notices(notices) -> None:
    """Print the reader's notices to stderr, with flag advice where a notice names a setting."""
    from . import _FLAGS

    for n in notices:
        flag = _FLAGS.get(getattr(n, "setting", None) or "")
        hint = f" (pass {flag} {n.suggestion})" if flag and getattr(n, "suggestion", None) else ""
        err_console.print(f"note: {n}{hint}", markup=False, soft_wrap=True)


def read_input(source, *, layer=None, crs=None, encoding=None, source_crs=None, require_crs: bool = True):
    """Read a command's input (a file, folder, URL or bundled layer name) and print its notices.

    Returns :class:`gis.io.ReadResult`; its ``source`` is the name to show.
    """
    from ..bundled import resolve_layer
    from ..io import is_url, read

    src = source if is_url(source) else resolve_layer(source)
    result = read(src, layer=layer, crs=crs, encoding=encoding, source_crs=source_crs, require_crs=require_crs)
    say_notices(result.notices)
    return result
