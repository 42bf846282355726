"""Quarterly land-intensity trend: the same audit over a folder of parcel files named by quarter.

Every file whose name holds a quarter (``2026Q1.gpkg``, ``parcels_2026Q2.geojson``, ``2026-Q3.parquet``
…) is audited with the same rule packs (:func:`gis.audit.audit`); :func:`quarterly_trend` returns
the audits and the tables of a trend workbook: ``trend`` (the key indicators per park and zone per
quarter, long), one wide table per key indicator (groups × quarters), ``verdicts``, one table per
quarter (the audited parcels), ``findings`` (all quarters, with a ``quarter`` column) and ``rules``.

>>> QUARTER.search("parcels_2026-Q3").group("q")
'3'
"""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import pandas as pd

from .audit import AuditResult, audit, verdict_counts
from .errors import InputError
from .rules import DEFAULT_PACKS, load_packs

__all__ = ["QUARTER", "KEY_INDICATORS", "WIDE_TABLES", "TrendResult", "quarter_files", "quarterly_trend"]

log = logging.getLogger(__name__)

QUARTER = re.compile(r"(?P<year>(19|20)\d{2})[-_ ]?Q(?P<q>[1-4])", re.IGNORECASE)
KEY_INDICATORS = [
    "n_parcels", "area_mu", "industrial_area_mu", "investment_intensity_wan_per_mu", "output_intensity_wan_per_mu",
    "tax_intensity_wan_per_mu", "far", "building_coverage", "land_built_rate", "industrial_land_rate",
    "industrial_investment_intensity_wan_per_mu", "industrial_tax_wan_per_mu", "composite_tax_wan_per_mu",
    "n_fail", "n_missing", "n_pass", "n_na",
]
WIDE_TABLES = {  # table (sheet) name, at most 31 characters: indicator
    "trend investment 万元per亩": "investment_intensity_wan_per_mu",
    "trend tax 万元per亩": "tax_intensity_wan_per_mu",
    "trend industrial invest 万元per亩": "industrial_investment_intensity_wan_per_mu",
    "trend failing parcels": "n_fail",
}


@dataclasses.dataclass
class TrendResult:
    """The audits by quarter and the tables of the trend workbook (in sheet order)."""

    audits: dict[str, AuditResult]
    tables: dict[str, pd.DataFrame]

    def fails_on(self, level: str | None) -> bool:
        return any(r.fails_on(level) for r in self.audits.values())


def quarter_files(folder) -> list[tuple[str, Path]]:
    """(``2026Q1``, path) for every parcel file in ``folder`` whose name holds a quarter, in time order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder of quarterly parcel files")
    from .io.formats import readable_suffixes  # the one table of formats

    suffixes = {s.lower() for s in readable_suffixes()}
    found = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() not in suffixes or p.name.startswith("."):
            continue
        m = QUARTER.search(p.stem)
        if not m:
            log.info("skipping %s: no quarter (e.g. 2026Q1) in its name", p.name)
            continue
        q = f"{m.group('year')}Q{m.group('q')}"
        if q in found:
            raise InputError(f"two files for {q}: {found[q].name} and {p.name}; keep one")
        found[q] = p
    if not found:
        raise InputError(f"{folder} holds no parcel files named by quarter (e.g. 2026Q1.gpkg)")
    return sorted(found.items())


def quarterly_trend(quarters, rules=None, *, by=(), zones=None, read=None) -> TrendResult:
    """Audit each quarter's parcels with the same rule packs and build the trend tables.

    ``quarters`` is a folder (files named by quarter, :func:`quarter_files`), a list of
    ``(quarter, path)`` or a mapping ``{"2026Q1": GeoDataFrame or path, …}``. ``rules`` as for
    :func:`gis.audit.audit`; ``zones`` a zones layer; ``read`` reads a path (default
    :func:`gis.io.read_layer`). The inputs are not modified.
    """
    if read is None:
        from .io import read_layer as read
    if isinstance(quarters, (str, Path)):
        items = quarter_files(quarters)
    elif isinstance(quarters, dict):
        items = list(quarters.items())
    else:
        items = list(quarters)
    if not items:
        raise InputError("no quarters to audit")
    packs = load_packs(list(rules) if isinstance(rules, (list, tuple)) else [rules] if rules else list(DEFAULT_PACKS))
    audits, trend, findings, counts = {}, [], [], []
    for quarter, src in items:
        log.info("auditing %s", quarter)
        gdf = read(src) if isinstance(src, (str, Path)) else src
        r = audit(gdf, packs, by=list(by), zones=zones)
        audits[quarter] = r
        cols = ["level", "group", *[c for c in KEY_INDICATORS if c in r.summary.columns],
                *[c for c in r.summary.columns if str(c).startswith(("rule:", "value:"))]]
        trend.append(r.summary[cols].assign(quarter=quarter))
        findings.append(r.findings.assign(quarter=quarter))
        counts.append(verdict_counts(r.parcels).assign(quarter=quarter))
    trend_df = _first(pd.concat(trend, ignore_index=True), "quarter")
    tables = {"trend": trend_df}
    for sheet, ind in WIDE_TABLES.items():
        if ind in trend_df.columns:
            wide = trend_df.pivot_table(index=["level", "group"], columns="quarter", values=ind, aggfunc="first", sort=False)
            tables[sheet[:31]] = wide.reset_index()
    tables["verdicts"] = _first(pd.concat(counts, ignore_index=True), "quarter")
    for q, r in audits.items():
        geom = r.parcels.geometry.name
        tables[q] = pd.DataFrame(r.parcels.drop(columns=geom))
    tables["findings"] = _first(pd.concat(findings, ignore_index=True), "quarter")
    tables["rules"] = next(iter(audits.values())).rules
    tables = {name: _plain(frame) for name, frame in tables.items()}
    return TrendResult(audits=audits, tables=tables)


def _first(frame, col):
    return frame[[col, *[c for c in frame.columns if c != col]]]


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    cats = [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
    return frame.astype({c: "object" for c in cats}) if cats else frame
