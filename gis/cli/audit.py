"""``parkgis audit``: the land-intensity audit of a parcel layer against rule packs."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from ..audit import audit
from ..audit_output import check_targets, write_audit
from ..bundled import resolve_layer
from ..errors import InputError
from ..indicators import indicator_heading
from ..rules import DEFAULT_PACKS, bundled_packs
from . import cli
from ._common import read_input, Findings, console, crs_opt, encoding_opt, layer_opt, overwrite_opt, print_frame
from ._progress import engine_opts, progress_bar, progress_opt, quiet_cluster

__all__: list[str] = []

_SUMMARY_COLUMNS = {  # column: short heading for the terminal; the indicators' headings from the registry
    "level": "level", "group": "group", "n_parcels": "parcels", "area_mu": "亩", "industrial_area_mu": "industrial 亩",
    **{m: indicator_heading(m) for m in ("investment_intensity_wan_per_mu", "tax_intensity_wan_per_mu", "far")},
    "n_fail": "fail", "n_missing": "missing", "n_pass": "pass", "n_na": "n/a",
}


@cli.command("audit")
@click.argument("parcels")
@click.option("--rules", "packs", multiple=True, metavar="PACK",
              help=f"Rule pack: a bundled name ({', '.join(bundled_packs())}) or a path to a .yaml file; repeat for "
                   f"several. Default: {', '.join(DEFAULT_PACKS)} (the enterprise evaluations huangyan-2022 and "
                   "huaian-2024 by name; mujun-eval is an example to copy).")
@click.option("--by", "by", multiple=True, metavar="COLUMN", help="Also summarise by this column (e.g. status, industry_code); park, zone, phase and GB "
                   "land-use class are always summarised.")
@click.option("--zones", default=None, metavar="LAYER",
              help="Zone layer (property id) that fills a missing zone_id by location and gives each zone's total "
                   "area for the development-zone indicators (土地开发率 …), e.g. yaogu_zones.")
@click.option("--out", "out", default=None, type=click.Path(), metavar="FILE|FOLDER/",
              help="Write the audit: .xlsx (a sheet per table), .gpkg, .csv, .parquet, .geojson, .md or .html; or a "
                   "FOLDER (no extension, or ending in /): parcels/ as a partitioned GeoParquet dataset and the "
                   "other tables as CSV beside it.")
@click.option("--fail-on", type=click.Choice(["error", "warning"]), default=None,
              help="Exit 1 when a finding of this severity (or worse) exists.")
@click.option("--min-area-m2", type=float, default=1.0, show_default=True, help="Smaller parcels get no per-area metrics.")
@click.option("--declared-tolerance-pct", type=float, default=5.0, show_default=True,
              help="Report declared areas further than this from the measured area.")
@click.option("--lang", type=click.Choice(["zh", "en", "raw"]), default="zh", show_default=True,
              help="Workbook (.xlsx) headers with units and verdicts in Chinese or English; raw keeps the machine "
                   "names (CSV, GeoParquet and GeoPackage always keep them).")
@overwrite_opt
@layer_opt
@crs_opt
@encoding_opt
@engine_opts
@progress_opt
def audit_cmd(parcels, packs, by, zones, out, fail_on, min_area_m2, declared_tolerance_pct, lang, overwrite, layer, crs,
              encoding, engine, scheduler, workers, memory_limit, show_progress):
    """Audit land intensity of PARCELS (万元/亩 and the control indicators) against rule packs.

    Every parcel appears in the result with its measured area, metrics and a column rule:<id> per rule
    holding pass, fail, n/a or missing. Exit 0 when done, 1 when --fail-on is met, 2 on bad input.

    \b
    Example (the bundled synthetic sample of 药谷 phase 1):
      parkgis audit samples/yaogu_phase1_parcels --rules lanzhou-etdz --rules gb-2008 --out audit.xlsx
    """
    from ..dask_engine import is_dataset, is_folder_output

    path = parcels if is_dataset(parcels) else resolve_layer(parcels)
    if engine == "auto":
        engine = "dask" if is_dataset(path) else "memory"
    # every input — the parcels, the zones, rule packs given as files — is protected from --out
    inputs = [path, resolve_layer(zones) if zones else None, *[p for p in packs if Path(str(p)).exists()]]
    from ..io import is_url

    folder = Path(str(out).rstrip("/\\")) if is_folder_output(out) and not is_url(out) else None
    if folder is not None:
        from ..io import check_output

        check_output(folder, overwrite=overwrite, inputs=inputs)  # before the work, not after
    elif out:
        if engine == "dask":
            raise InputError(f"the dask engine writes a folder: pass --out {Path(out).with_suffix('')}/ (parcels as a "
                             "partitioned GeoParquet dataset, the other tables as CSV beside it)")
        check_targets(out, overwrite=overwrite, inputs=inputs)  # before the work, not after
    zone_layer = read_input(zones).frame if zones else None
    rules = list(packs) or list(DEFAULT_PACKS)
    kw = dict(by=list(by), zones=zone_layer, min_area_m2=min_area_m2, declared_tolerance_pct=declared_tolerance_pct)
    if engine == "dask":
        result = _audit_dask(path, rules, kw, folder, overwrite, inputs, scheduler, workers, memory_limit, show_progress)
    else:
        if is_dataset(path):  # a dataset in one frame: partition after partition, as the dask engine reads it
            from ..dask_engine import read_dataset

            gdf = read_dataset(path)
        else:
            read = read_input(path, layer=layer, crs=crs, encoding=encoding)
            gdf = read.frame
        result = audit(gdf, rules, **kw)
        if not is_dataset(path):
            result.findings = _with_read_findings(result, read.findings)
        if folder is not None:
            _write_folder(result, folder, overwrite, inputs)
        elif out:
            written = write_audit(result, out, overwrite=overwrite, inputs=inputs, lang=None if lang == "raw" else lang)
            console.print(f"wrote {', '.join(str(p) for p in written)}")
    if folder is not None:
        where = ("findings/ (each parcel's), findings.csv (the layer's own: headers, duplicates, summary rules)"
                 if result.findings_path else "findings.csv")
        console.print(f"wrote {folder}/: parcels/, {where}, summary.csv, rules.csv, indicators.csv, columns.csv, "
                      "verdicts.csv")
    _report(result, brief=bool(out), by_levels=list(by))
    if result.fails_on(fail_on):
        raise Findings()


def _audit_dask(path, rules, kw, folder, overwrite, inputs, scheduler, workers, memory_limit, show_progress):
    from ..dask_engine import audit_dataset, connect, write_dataset_outputs
    from ..io import atomic_output

    with quiet_cluster(), connect(scheduler, workers=workers, memory_limit=memory_limit) as client, \
            progress_bar(show_progress) as progress:
        if folder is None:
            return audit_dataset(path, rules, client=client, progress=progress, **kw)
        with atomic_output(folder, directory=True, overwrite=overwrite, inputs=inputs) as tmp:
            (tmp / "parcels").mkdir()
            (tmp / "findings").mkdir()
            result = audit_dataset(path, rules, client=client, progress=progress, parcels_dir=tmp / "parcels",
                                   findings_dir=tmp / "findings", **kw)
            write_dataset_outputs(result, tmp)
        result.parcels_path, result.findings_path = str(folder / "parcels"), str(folder / "findings")
        return result


def _write_folder(result, folder, overwrite, inputs) -> None:
    from ..dask_engine import write_dataset_outputs, write_parts
    from ..io import atomic_output

    with atomic_output(folder, directory=True, overwrite=overwrite, inputs=inputs) as tmp:
        (tmp / "parcels").mkdir()
        write_parts(result.parcels, tmp / "parcels")
        write_dataset_outputs(result, tmp)


def _report(result, *, brief: bool, by_levels=()) -> None:
    counts = result.verdict_counts()
    n = int(result.summary["n_parcels"].iloc[0]) if len(result.summary) else 0
    print_frame(counts, title=f"Verdicts of {n} parcels")
    if not brief:
        s = result.summary
        s = s[~s["level"].isin(["phase", "landuse_gb"]) | s["level"].isin(by_levels)]
        cols = {c: h for c, h in _SUMMARY_COLUMNS.items() if c in s.columns}
        cols.update({c: c.removeprefix("rule:") for c in s.columns if str(c).startswith("rule:")})
        print_frame(s[list(cols)].rename(columns=cols),
                    title="Summary: Σ numerator ÷ Σ measured area per group (all groups and indicators with --out FILE)")
    f = result.findings
    by = result.count_findings()
    if len(by):
        print_frame(by, title=f"Findings ({int(by['n'].sum())})")
        if not brief:
            show = f[["row", "parcel_id", "level", "group", "severity", "check", "value", "threshold", "reason_zh"]].head(25)
            print_frame(pd.DataFrame(show), title="First findings (write all with --out FILE)")
    else:
        console.print("no findings")


def _with_read_findings(result, read_findings):
    """The audit's findings plus what reading found (an arc stroked, a coordinate that cannot be right …),
    on the same 1-based rows, with the parcel ids attached."""
    from ..findings import concat_findings

    if read_findings is None or not len(read_findings):
        return result.findings
    return concat_findings([concat_findings([read_findings], ids=result.parcels, row_base=1, sort=False), result.findings])
