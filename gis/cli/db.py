"""``parkgis db …``: the team's shared parcel store on PostGIS (init, load, grant, history, check, audit, runs).

Every URL is shown with its password redacted. Credentials may come from libpq's environment
(``PGUSER``, ``PGPASSWORD``), a service file (``?service=…``) or ``~/.pgpass``.
"""

from __future__ import annotations

import click
import pandas as pd

from . import cli
from ._common import Findings, console, crs_opt, encoding_opt, layer_opt, overwrite_opt, print_frame

__all__: list[str] = []

_url_arg = click.argument("url", metavar="URL")


def _with_table(url: str, table: str) -> str:
    from ..store.url import parse_url

    if parse_url(url).table:
        return url
    return url + ("&" if "?" in url else "?") + f"table={table}"


@cli.group("db")
def db():
    """The shared parcel store on PostgreSQL/PostGIS (URL: postgresql://[user@]host/db[?schema=…]).

    \b
    Example (a local server; see the README's "For teams"):
      parkgis db init postgresql:///planning
      parkgis db load parcels.gpkg postgresql:///planning
      parkgis db grant postgresql:///planning editor ana --park yaogu.phase1
      parkgis audit "postgresql:///planning?table=parcels" --out audit.xlsx
    """


@db.command("init")
@_url_arg
@click.option("--no-styles", is_flag=True, help="Do not save QGIS default styles in layer_styles.")
def init_cmd(url, no_styles):
    """Create the store in URL's database (and ?schema=): parcels, zones, audit runs, history, SRID 4490."""
    from ..store.schema import init_store

    red = init_store(url, styles=not no_styles)
    console.print(f"initialised the parkgis store in {red}", markup=False)


@db.command("load")
@click.argument("source")
@_url_arg
@click.option("--table", type=click.Choice(["parcels", "zones"]), default="parcels", show_default=True,
              help="Store table to fill (unless URL names one).")
@overwrite_opt
@layer_opt
@crs_opt
@encoding_opt
def load_cmd(source, url, table, overwrite, layer, crs, encoding):
    """Load parcels (or zones) from SOURCE (a file or bundled layer) into the store at URL, all or nothing.

    Each parcel is measured (area_mu, on the ellipsoid) as it is stored. Replacing rows that are there
    needs --overwrite; then the rows are matched by parcel_id and only real changes reach the history.
    """
    from ..bundled import resolve_layer
    from ..io import read_layer, write_layer

    from ..store.url import is_db_url, parse_url

    path = source if is_db_url(source) else resolve_layer(source)
    frame = read_layer(path, layer=layer, crs=crs, encoding=encoding)
    target = _with_table(url, table)
    red = write_layer(frame, target, overwrite=overwrite)
    console.print(f"loaded {len(frame)} rows into {parse_url(target).table} of {red}", markup=False)


@db.command("grant")
@_url_arg
@click.argument("role", type=click.Choice(["editor", "auditor", "reader"]))
@click.argument("user")
@click.option("--park", default=None, metavar="PARK_ID", help="The park an editor may change (its park_id).")
def grant_cmd(url, role, user, park):
    """Give USER the ROLE: an editor of one park (--park), an auditor, or a reader.

    USER is created as a login role without a password when missing (set one with ALTER ROLE … PASSWORD).
    """
    from ..store.roles import grant

    if role == "editor" and not park:
        raise click.UsageError("an editor is per park: pass --park PARK_ID")
    if role != "editor" and park:
        raise click.UsageError(f"a {role} is not per park: leave out --park")
    group = grant(url, role, user, park=park)
    console.print(f"{user} is now {group}", markup=False)


@db.command("history")
@_url_arg
@click.option("--parcel", "parcel", default=None, metavar="ID", help="The parcel_id whose changes to show.")
@click.option("--zone", "zone", default=None, metavar="ID", help="A zone_id instead.")
def history_cmd(url, parcel, zone):
    """The changes of one parcel (or zone): when, which operation, who, and what changed."""
    from ..store.maintain import history

    if bool(parcel) == bool(zone):
        raise click.UsageError("name one parcel (--parcel ID) or one zone (--zone ID)")
    frame = history(url, parcel or zone, table="parcels" if parcel else "zones")
    if frame.empty:
        console.print(f"no history for {parcel or zone}", markup=False)
        return
    shown = frame.assign(at=frame["at"].map(lambda t: t.strftime("%Y-%m-%d %H:%M:%S %Z")))
    print_frame(shown[["at", "operation", "who", "changes"]], title=f"history of {parcel or zone}", max_rows=200)


@db.command("check")
@_url_arg
@click.option("--tolerance", type=float, default=1e-5, show_default=True,
              help="Largest relative difference between stored area_mu and PostGIS' geodesic area.")
@click.option("--remeasure", is_flag=True, help="Store parkgis' new measurement for the parcels that disagree.")
def check_cmd(url, tolerance, remeasure):
    """Compare each parcel's stored area_mu with ST_Area(geography); exit 1 when any disagrees.

    A disagreement means the geometry was edited (e.g. in QGIS) after area_mu was measured;
    --remeasure measures those parcels again and stores the result (then exit 0).
    """
    from ..store.maintain import check_areas, remeasure as remeasure_parcels

    frame = check_areas(url, tolerance=tolerance)
    bad = frame[~frame["agrees"]]
    worst = float(frame["rel_diff"].max()) if len(frame) and frame["rel_diff"].notna().any() else 0.0
    console.print(f"{len(frame)} parcels; {len(bad)} disagree above {tolerance:g} (largest difference {worst:.2e})",
                  markup=False)
    if len(bad):
        print_frame(bad[["parcel_id", "park_id", "area_mu", "postgis_area_mu", "rel_diff", "reason"]],
                    title="stored area_mu out of step with the geometry" + ("" if remeasure else " (--remeasure stores new areas)"),
                    float_digits=6)
        if remeasure:
            n = remeasure_parcels(url, bad["parcel_id"])
            console.print(f"remeasured {n} parcels", markup=False)
            return
        raise Findings()


@db.command("audit")
@_url_arg
@click.option("--run", "run", required=True, metavar="ID", help="Name of the audit run, e.g. 2026Q3.")
@click.option("--rules", "packs", multiple=True, metavar="PACK", help="Rule pack (repeat); default: every bundled pack.")
@click.option("--by", "by", multiple=True, metavar="COLUMN", help="Also summarise by this column.")
@overwrite_opt
def audit_cmd(url, run, packs, by, overwrite):
    """Audit the store's parcels and save the result as audit run --run in the store (auditor role)."""
    from ..audit import audit, verdict_counts
    from ..io import read_layer
    from ..rules import DEFAULT_PACKS
    from ..store.runs import check_run, write_audit_run
    from ..store.url import redact

    check_run(url, run=run, overwrite=overwrite)  # before the work, not after
    source = _with_table(url, "parcels")
    frame = read_layer(source)
    result = audit(frame, list(packs) or list(DEFAULT_PACKS), by=list(by))  # the same default as parkgis audit
    saved = write_audit_run(result, url, run=run, overwrite=overwrite, source=redact(source))
    print_frame(verdict_counts(result.parcels), title=f"audit run {saved}: {len(result.parcels)} parcels, "
                                                      f"{len(result.findings)} findings")


@db.command("runs")
@_url_arg
def runs_cmd(url):
    """The audit runs saved in the store, newest first."""
    from ..store.runs import list_runs

    frame = list_runs(url)
    if frame.empty:
        console.print("no audit runs yet")
        return
    frame = frame.assign(created_at=frame["created_at"].map(lambda t: t.strftime("%Y-%m-%d %H:%M")))
    print_frame(pd.DataFrame(frame), title="audit runs")
