#!/usr/bin/env python3
"""Quarterly land-intensity audit over a folder of parcel files, into one workbook.

Every file whose name holds a quarter (``2026Q1.gpkg``, ``parcels_2026Q2.geojson``, ``2026-Q3.parquet``
…) is audited with the same rule packs (:func:`gis.audit.audit`). The workbook gets one sheet per
quarter (the audited parcels), one ``findings`` sheet (all quarters, with a ``quarter`` column), a
``trend`` sheet (the key indicators per park and zone per quarter, long) and one wide sheet per key
indicator (groups × quarters), plus the rules used.

Usage:
    python scripts/quarterly_audit.py FOLDER --out audit_2026.xlsx [--rules lanzhou-etdz --rules gb-2008]
           [--by phase] [--zones yaogu_zones] [--fail-on error] [--overwrite]
Exit codes: 0 done, 1 --fail-on met in some quarter, 2 could not run.
"""
from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gis.audit import audit, verdict_counts  # noqa: E402
from gis.audit_output import XLSX_MAX_ROWS  # noqa: E402
from gis.bundled import resolve_layer  # noqa: E402
from gis.errors import InputError, ParkGISError  # noqa: E402
from gis.io import VECTOR_SUFFIXES, TABLE_SUFFIXES, read_layer, write_tables  # noqa: E402
from gis.rules import bundled_packs, load_packs  # noqa: E402

log = logging.getLogger("quarterly_audit")

QUARTER = re.compile(r"(?P<year>(19|20)\d{2})[-_ ]?Q(?P<q>[1-4])", re.IGNORECASE)
KEY_INDICATORS = [
    "n_parcels", "area_mu", "industrial_area_mu", "investment_intensity_wan_per_mu", "output_intensity_wan_per_mu",
    "tax_intensity_wan_per_mu", "far", "building_coverage", "land_built_rate", "industrial_land_rate",
    "industrial_investment_intensity_wan_per_mu", "industrial_tax_wan_per_mu", "composite_tax_wan_per_mu",
    "n_fail", "n_missing", "n_pass", "n_na",
]
WIDE = {  # sheet name: indicator (sheet names are at most 31 characters)
    "trend investment 万元per亩": "investment_intensity_wan_per_mu",
    "trend tax 万元per亩": "tax_intensity_wan_per_mu",
    "trend industrial invest 万元per亩": "industrial_investment_intensity_wan_per_mu",
    "trend failing parcels": "n_fail",
}


def quarter_files(folder: Path) -> list[tuple[str, Path]]:
    """(``2026Q1``, path) for every parcel file in ``folder`` whose name holds a quarter, in time order."""
    found = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() not in (VECTOR_SUFFIXES | TABLE_SUFFIXES) or p.name.startswith("."):
            continue
        m = QUARTER.search(p.stem)
        if not m:
            log.info("skipping %s: no quarter (e.g. 2026Q1) in its name", p.name)
            continue
        q = f"{m.group('year')}Q{m.group('q')}"
        if q in found:
            raise InputError(f"two files for {q}: {found[q].name} and {p.name}; keep one")
        found[q] = p
    return sorted(found.items())


def run(folder, out, *, packs=(), by=(), zones=None, overwrite=False):
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder of quarterly parcel files")
    files = quarter_files(folder)
    if not files:
        raise InputError(f"{folder} holds no parcel files named by quarter (e.g. 2026Q1.gpkg)")
    rule_packs = load_packs(list(packs) or bundled_packs())
    zone_layer = read_layer(resolve_layer(zones)) if zones else None
    sheets, trend, findings, counts, results = {}, [], [], [], {}
    for quarter, path in files:
        log.info("auditing %s (%s)", quarter, path.name)
        r = audit(read_layer(path), rule_packs, by=list(by), zones=zone_layer)
        results[quarter] = r
        if len(r.parcels) > XLSX_MAX_ROWS:
            raise InputError(f"{path.name} has {len(r.parcels):,} parcels, more than a worksheet holds")
        sheets[quarter] = pd.DataFrame(r.parcels.drop(columns=r.parcels.geometry.name))
        cols = ["level", "group", *[c for c in KEY_INDICATORS if c in r.summary.columns],
                *[c for c in r.summary.columns if str(c).startswith(("rule:", "value:"))]]
        trend.append(r.summary[cols].assign(quarter=quarter))
        findings.append(r.findings.assign(quarter=quarter))
        counts.append(verdict_counts(r.parcels).assign(quarter=quarter))
    trend_df = pd.concat(trend, ignore_index=True)
    trend_df = trend_df[["quarter", *[c for c in trend_df.columns if c != "quarter"]]]
    out_sheets = {"trend": trend_df}
    for sheet, ind in WIDE.items():
        if ind in trend_df.columns:
            wide = trend_df.pivot_table(index=["level", "group"], columns="quarter", values=ind, aggfunc="first", sort=False)
            out_sheets[sheet[:31]] = wide.reset_index()
    vc = pd.concat(counts, ignore_index=True)
    out_sheets["verdicts"] = vc[["quarter", *[c for c in vc.columns if c != "quarter"]]]
    out_sheets.update({q: s for q, s in sheets.items()})
    fd = pd.concat(findings, ignore_index=True)
    out_sheets["findings"] = fd[["quarter", *[c for c in fd.columns if c != "quarter"]]]
    out_sheets["rules"] = next(iter(results.values())).rules
    for name, frame in out_sheets.items():
        for c in frame.columns:
            if isinstance(frame[c].dtype, pd.CategoricalDtype):
                frame[c] = frame[c].astype("object")
    write_tables(out, out_sheets, overwrite=overwrite, inputs=[p for _, p in files])
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--out", type=Path, required=True, help="workbook to write (.xlsx; .md/.html also work)")
    ap.add_argument("--rules", action="append", default=[], help="rule pack name or YAML path (repeat)")
    ap.add_argument("--by", action="append", default=[], help="also summarise by this column")
    ap.add_argument("--zones", default=None, help="zone layer filling missing zone_id by location")
    ap.add_argument("--fail-on", choices=["error", "warning"], default=None)
    ap.add_argument("--overwrite", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        results = run(args.folder, args.out, packs=args.rules, by=args.by, zones=args.zones, overwrite=args.overwrite)
    except (ParkGISError, OSError, ValueError) as exc:
        print(f"quarterly_audit: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 2
    for q, r in results.items():
        v = r.parcels["verdict"].value_counts()
        print(f"{q}: {len(r.parcels)} parcels — " + ", ".join(f"{k} {int(v.get(k, 0))}" for k in ("pass", "fail", "missing", "n/a"))
              + f"; {len(r.findings)} findings")
    print(f"wrote {args.out}")
    return 1 if any(r.fails_on(args.fail_on) for r in results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
