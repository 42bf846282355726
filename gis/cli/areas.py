"""Area subcommands: layers, targets, areas, check, validate, plan-check, convert."""

from __future__ import annotations


import click
import numpy as np
import pandas as pd

from ..area import add_area_columns, areas_by
from ..bundled import bundled_layer_names, bundled_layer_path, read_bundled
from ..errors import InputError
from ..io import write_layer, write_tables
from ..targets import all_targets, check_bundled, check_target, parse_tolerance_pct
from ..units import MU_M2
from ..validate import row_notes, validate
from . import cli
from ._progress import engine_opts, progress_opt
from ._common import (Findings, console, crs_opt, encoding_opt, from_opt, layer_opt, out_opt, overwrite_opt, print_frame,
                      read_input)

__all__: list[str] = []

_input_arg = click.argument("input_path", metavar="INPUT")


class _Source(str):
    """A source as the commands show it (``.name``), keeping what it was given as (the str itself)."""

    name: str = ""


def _read(input_path, layer=None, crs=None, encoding=None, source_crs=None):
    """``(frame, source, read_result)``; ``source.name`` is how to show it, ``str(source)`` what to protect."""
    result = read_input(input_path, layer=layer, crs=crs, encoding=encoding, source_crs=source_crs)
    from ..bundled import resolve_layer
    from ..io import is_url

    src = _Source(input_path if is_url(input_path) else resolve_layer(input_path))
    src.name = result.source
    return result.frame, src, result


_BRIEF_COLUMNS = ("parcel_id", "id", "name_zh", "name", "kind", "area_m2", "area_mu", "area_km2", "buildable_share",
                  "buildable_mu", "raster_finding", "findings")


def _is_label(col, frame) -> bool:
    """A column that names or identifies a feature (name, 名称, code, adcode, 编号 …), for the terminal view."""
    import re

    if col == getattr(frame, "_geometry_column_name", None) or not isinstance(col, str):
        return False
    return bool(re.search(r"(name|名称|地块|宗地|编号|编码|代码|code|^id$|_id$)", col, re.IGNORECASE))


def _emit(frame, out, path, overwrite, *, title, brief=False):
    if out:
        shown = write_layer(frame, out, overwrite=overwrite, inputs=[str(path)])
        console.print(f"wrote {shown} ({len(frame)} rows)")
        return
    if brief:
        labels = [c for c in frame.columns if c not in _BRIEF_COLUMNS and _is_label(c, frame)][:3]
        cols = labels + [c for c in _BRIEF_COLUMNS if c in frame.columns]
        if len(cols) < len(frame.columns) - 1:
            title += " (main columns; every input column is kept with --out)"
        frame = frame[cols]
    print_frame(frame, title=title)


@cli.command("layers")
def layers_cmd():
    """The bundled plan layers with feature counts and total areas."""
    rows = []
    for name in bundled_layer_names():
        gdf = add_area_columns(read_bundled(name))
        kinds = gdf["kind"].value_counts().to_dict() if "kind" in gdf.columns else {}
        rows.append({"layer": name, "features": len(gdf),
                     "kinds": ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())),
                     "area_km2": gdf["area_km2"].sum(), "area_mu": gdf["area_mu"].sum(),
                     "file": str(bundled_layer_path(name))})
    print_frame(pd.DataFrame(rows), title="bundled layers (areas summed over polygons; nested features count again)")


@cli.command("targets")
def targets_cmd():
    """The plan's figures in layers/targets.yaml, with their ids and sources."""
    rows = [{"id": t.id, "value": t.value, "unit": t.unit, "亩": t.value_mu if t.is_area else None,
             "name": t.name_zh, "feature": t.feature_id, "source": t.source} for t in all_targets().values()]
    print_frame(pd.DataFrame(rows), title="plan targets")


@cli.command("areas")
@_input_arg
@layer_opt
@click.option("--by", "by", default=None, help="Sum areas per value of this field.")
@click.option("--buildable", "buildable_raster", default=None, metavar="RASTER",
              help="Add the share and area of each feature meeting --where on this raster (e.g. a slope grid).")
@click.option("--where", "where", default="<15", show_default=True, help="Condition for --buildable, e.g. '<15'.")
@crs_opt
@from_opt
@encoding_opt
@out_opt()
@overwrite_opt
@engine_opts
@progress_opt
def areas_cmd(input_path, layer, by, buildable_raster, where, crs, source_crs, encoding, out, overwrite, engine, scheduler,
              workers, memory_limit, show_progress):
    """Ellipsoidal area of every feature (or per group with --by) in m², 公顷, 亩 and km².

    INPUT is a file, a folder, a bundled layer name or a postgresql:// URL. Every input column is kept;
    a `findings` column notes rows whose area needs a second look (missing, empty, non-polygon, repaired
    or impossible geometry, found while reading or measuring). A missing area is never a 0. With
    --buildable SLOPE.tif the share of each feature's land meeting --where and that area in 亩 are added
    (`buildable_share`, `buildable_mu`).
    """
    from ..dask_engine import is_dataset

    if engine == "dask" or (engine == "auto" and is_dataset(input_path)):  # a partitioned GeoParquet dataset
        from ._dask_areas import areas_on_dask

        return areas_on_dask(input_path, by=by, out=out, overwrite=overwrite, scheduler=scheduler, workers=workers,
                             memory_limit=memory_limit, show_progress=show_progress)
    gdf, path, result = _read(input_path, layer, crs, encoding, source_crs)
    report = validate(gdf, checks={"geometry", "ids"})
    measured = add_area_columns(gdf, valid=report.valid)
    raster_findings = None
    if buildable_raster:
        from ..zonal import zonal_table

        zs, zf = zonal_table(buildable_raster, gdf, stats=(), where=where, crs=None, return_findings=True)
        measured["buildable_share"] = zs["where_share"].to_numpy()  # of the land with raster data
        measured["buildable_mu"] = zs["where_area_m2"].to_numpy() / MU_M2
        raster_findings = zf
        with_row = zf.dropna(subset=["row"])
        per_row = (with_row.groupby(with_row["row"].astype("int64") - 1)["reason_en"]  # rows are 1-based
                   .agg(lambda s: "; ".join(dict.fromkeys(map(str, s)))))
        text = np.full(len(gdf), None, dtype=object)
        ok = per_row.index.to_numpy()
        text[ok[(ok >= 0) & (ok < len(gdf))]] = per_row.to_numpy()[(ok >= 0) & (ok < len(gdf))]
        measured["raster_finding"] = text
        for f in raster_findings[raster_findings["row"].isna()]["reason_en"]:
            console.print(f"note: {f}")
    notes = row_notes(gdf, report, result.findings, raster_findings)
    if by is None:
        measured["findings"] = notes.to_numpy()
        _emit(measured, out, path, overwrite, title=f"areas of {path.name}", brief=True)
        return
    if by not in gdf.columns:
        raise InputError(f"no field {by!r} in {path.name}; fields: {', '.join(map(str, gdf.columns.drop(gdf.geometry.name)))}")
    measured["findings"] = notes.to_numpy()
    grouped = areas_by(measured, by, extra_sums=("buildable_mu",) if buildable_raster else ())
    _emit(grouped, out, path, overwrite, title=f"areas of {path.name} by {by}")
    if grouped["area_m2"].isna().any():
        console.print(f"{int(grouped['area_m2'].isna().sum())} group(s) have no measurable feature: their totals are "
                      f"missing, not 0")


@cli.command("check")
@click.argument("input_path", metavar="[INPUT]", required=False)
@click.option("--target", "target_id", default=None, help="Target id from layers/targets.yaml, e.g. yaogu.phase1.")
@click.option("--tolerance", default="0.5%", show_default=True, help="Allowed deviation, in percent.")
@layer_opt
@crs_opt
@from_opt
@encoding_opt
@out_opt("Write the check and the per-feature breakdown here.")
@overwrite_opt
def check_cmd(input_path, target_id, tolerance, layer, crs, source_crs, encoding, out, overwrite):
    """Measured total against a plan target; exit 0 within tolerance, 1 outside.

    Without INPUT and --target, every bundled feature that has a planned figure is checked.
    """
    tol = parse_tolerance_pct(tolerance)
    if input_path is None and target_id is None:
        table = check_bundled(tolerance_pct=tol)
        if out:
            write_layer(table, out, overwrite=overwrite)
            console.print(f"wrote {out}")
        first = ["target", "planned_mu", "measured_mu", "deviation_pct", "within", "deviation_mu", "name"]
        shown = table.drop(columns=["planned_km2", "measured_km2", "note"])
        print_frame(shown[[c for c in first if c in shown] + [c for c in shown if c not in first]],
                    title=f"bundled layers against the plan's targets (tolerance ±{tol:g} %)", float_digits=3)
        bad = table[~table["within"]]
        console.print(f"{len(table)} targets checked, {len(bad)} outside ±{tol:g} %")
        if len(bad):
            raise Findings()
        return
    if input_path is None or target_id is None:
        raise click.UsageError("give both INPUT and --target, or neither (to check the bundled layers)")
    gdf, path, _ = _read(input_path, layer, crs, encoding, source_crs)
    result = check_target(gdf, target_id, tolerance_pct=tol)
    print_frame(result.summary(), title=f"{path.name} against {target_id}")
    if out:
        write_tables(out, {"check": result.summary(), "features": result.features}, overwrite=overwrite, inputs=[str(path)])
        console.print(f"wrote {out}")
    else:
        cols = [c for c in ("id", "parcel_id", "name_zh", "area_mu", "area_km2", "share_of_target_pct") if c in result.features]
        print_frame(result.features[cols], title="features")
    if not result.within:
        raise Findings()


@cli.command("validate")
@_input_arg
@click.option("--id", "id_field", default=None, help="Id field (default parcel_id, else id).")
@click.option("--within", default=None, help="Layer (file or bundled name, e.g. parks) the features must lie in.")
@click.option("--within-id", default=None, help="Only the --within features whose --within-field is this (e.g. yaogu.phase1).")
@click.option("--within-field", default="id", show_default=True, help="Field of --within matched by --within-id (e.g. adcode).")
@click.option("--min-outside", "min_outside_m2", default=1.0, show_default=True, type=float, metavar="M2",
              help="Land outside --within below this many m² is drawing noise, not an error.")
@layer_opt
@crs_opt
@from_opt
@encoding_opt
@out_opt("Write the findings here (.csv, .xlsx, .md, .gpkg …).")
@overwrite_opt
def validate_cmd(input_path, id_field, within, within_id, within_field, min_outside_m2, layer, crs, source_crs,
                 encoding, out, overwrite):
    """Invalid geometry, overlaps, features outside their park, gaps, slivers, duplicate ids; exit 1 when found."""
    gdf, path, result = _read(input_path, layer, crs, encoding, source_crs)
    within_gdf, within_src = None, None
    if within:
        within_gdf, within_src, _ = _read(within)
        if within_id:
            if within_field not in within_gdf.columns:
                raise InputError(f"{within_src.name} has no field {within_field!r}; fields: "
                                 f"{', '.join(map(str, within_gdf.columns.drop(within_gdf.geometry.name)))}")
            match = within_gdf[within_field].astype("string") == str(within_id)
            if not match.any():
                raise InputError(f"no feature with {within_field} = {within_id!r} in {within_src.name}")
            within_gdf = within_gdf[match.fillna(False).to_numpy()]
    report = validate(gdf, id_field=id_field, within=within_gdf, min_outside_m2=min_outside_m2)
    from ..findings import concat_findings

    findings = concat_findings([result.findings, report.findings], sort=True) if len(result.findings) else report.findings
    if out:
        shown = write_layer(findings, out, overwrite=overwrite, inputs=[str(path), str(within_src) if within_src else None])
        console.print(f"wrote {shown} ({len(findings)} findings)")
    elif len(findings):
        print_frame(findings, title=f"{path.name}: {len(findings)} findings",
                    columns=["row", "feature", "check", "severity", "other", "value", "reason_en"])
    counts = findings.groupby(findings["check"].astype(str)).size()
    summary = ", ".join(f"{k} {v}" for k, v in counts.items()) or "nothing found"
    console.print(f"{path.name}: {report.n_features} features checked; {summary}")
    if len(report.problems) or findings["severity"].astype(str).isin(["error", "warning"]).any():
        raise Findings()


@cli.command("plan-check")
@out_opt("Write the checks here.")
@overwrite_opt
def plan_check_cmd(out, overwrite):
    """The plan's figures held against each other (unit conversions, parts against wholes); exit 1 on inconsistencies."""
    from ..plancheck import plan_check

    checks = plan_check()
    if out:
        write_layer(checks, out, overwrite=overwrite)
        console.print(f"wrote {out}")
    print_frame(checks, title="the plan against itself", float_digits=2,
                columns=["id", "kind", "statement", "difference", "unit", "consistent", "note"])
    bad = checks[~checks["consistent"]]
    console.print(f"{len(checks)} checks, {len(bad)} inconsistent")
    if len(bad):
        raise Findings()


@cli.command("convert")
@click.argument("input_path", metavar="IN")
@click.argument("output_path", metavar="OUT")
@click.option("--from", "src", required=True, help="gcj02, bd09, or the CRS of IN as EPSG:n.")
@click.option("--to", "dst", default="EPSG:4326", show_default=True, help="wgs84/EPSG:4326, gcj02, bd09, or EPSG:n.")
@layer_opt
@encoding_opt
@overwrite_opt
def convert_cmd(input_path, output_path, src, dst, layer, encoding, overwrite):
    """Convert coordinates: Gaode/Tencent GCJ-02 and Baidu BD-09 to and from WGS84, or any EPSG to any EPSG."""
    from ..convert import convert_layer, parse_system

    system = parse_system(src)
    crs = system if not isinstance(system, str) else ("EPSG:4326" if system != "wgs84" else None)
    result = read_input(input_path, layer=layer, encoding=encoding, crs=crs, require_crs=False)
    converted = convert_layer(result.frame, src=src, dst=dst)
    shown = write_layer(converted, output_path, overwrite=overwrite, inputs=[str(input_path), str(result.source)])
    console.print(f"wrote {shown} ({len(converted)} features, {src} → {dst})")
