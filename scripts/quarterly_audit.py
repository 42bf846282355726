#!/usr/bin/env python3
"""Quarterly land-intensity audit over a folder of parcel files, into one workbook.

A thin command over :func:`gis.trend.quarterly_trend`: every file whose name holds a quarter
(``2026Q1.gpkg``, ``parcels_2026Q2.geojson`` …) is audited with the same rule packs; the workbook gets
the trend (key indicators per park and zone per quarter), wide tables per indicator, the verdicts, one
sheet per quarter, the findings and the rules.

Usage:
    python scripts/quarterly_audit.py FOLDER --out audit_2026.xlsx [--rules lanzhou-etdz --rules gb-2008]
           [--by phase] [--zones yaogu_zones] [--fail-on error] [--overwrite]
Exit codes: 0 done, 1 --fail-on met in some quarter, 2 could not run (one line on stderr, no traceback).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gis.audit_output import XLSX_MAX_ROWS  # noqa: E402
from gis.bundled import resolve_layer  # noqa: E402
from gis.errors import InputError, ParkGISError  # noqa: E402
from gis.io import read_layer, write_tables  # noqa: E402
from gis.trend import quarter_files, quarterly_trend  # noqa: E402


def run(folder, out, *, packs=(), by=(), zones=None, overwrite=False):
    files = quarter_files(folder)
    zone_layer = read_layer(resolve_layer(zones)) if zones else None
    result = quarterly_trend(files, list(packs) or None, by=by, zones=zone_layer)
    for q, r in result.audits.items():
        if len(r.parcels) > XLSX_MAX_ROWS:
            raise InputError(f"{q} has {len(r.parcels):,} parcels, more than a worksheet holds")
    write_tables(out, result.tables, overwrite=overwrite, inputs=[p for _, p in files])
    return result


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
    ap.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = run(args.folder, args.out, packs=args.rules, by=args.by, zones=args.zones, overwrite=args.overwrite)
    except (ParkGISError, OSError, ValueError) as exc:
        print(f"quarterly_audit: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 — a script prints one line, never a traceback
        if args.debug:
            raise
        print(f"quarterly_audit: internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
              "(run with --debug for the traceback)", file=sys.stderr)
        return 2
    for q, r in result.audits.items():
        v = r.parcels["verdict"].value_counts()
        print(f"{q}: {len(r.parcels)} parcels — " + ", ".join(f"{k} {int(v.get(k, 0))}" for k in ("pass", "fail", "missing", "n/a"))
              + f"; {len(r.findings)} findings")
    print(f"wrote {args.out}")
    return 1 if result.fails_on(args.fail_on) else 0


if __name__ == "__main__":
    raise SystemExit(main())
