"""The dask engine: audits and areas of a partitioned GeoParquet dataset on a dask.distributed cluster.

A dataset is a folder of ``*.parquet`` files (searched recursively; hive folders such as
``park_id=lanzhou.etdz/`` give their key as a column) or a glob pattern. Every file is a partition, read
with :func:`gis.io.read` on a worker and audited with the same map functions as the in-memory audit
(:mod:`gis.audit_partition`); the client adds up the partitions (:mod:`gis.audit_reduce`). Partitions
are checked first, from their Parquet footers only: a partition whose columns, types or CRS differ
from the first is an :class:`~gis.errors.InputError` naming it.

The cluster is a :class:`distributed.LocalCluster` (one single-threaded worker per core) unless a
scheduler address is given (or ``DASK_SCHEDULER_ADDRESS`` set); a scheduler that cannot be reached is
an :class:`EngineError`. A worker dying mid-run makes dask run its task again elsewhere; when that
fails too, the run fails with an EngineError and nothing is left at the output (parcels are written
into a temporary folder that is renamed into place only when every partition is done).
"""

from __future__ import annotations

import contextlib
import glob as _glob
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError, ParkGISError

__all__ = ["EngineError", "is_dataset", "dataset_parts", "check_dataset", "read_part", "read_dataset", "connect", "audit_dataset",
           "areas_dataset", "write_dataset_outputs", "write_parts", "is_folder_output"]

log = logging.getLogger(__name__)


class EngineError(ParkGISError, RuntimeError):
    """The cluster could not run the work (scheduler unreachable, workers lost)."""


# ------------------------------------------------------------------------------------------ dataset
def is_dataset(source) -> bool:
    """A folder holding ``*.parquet`` files (at any depth) or a glob pattern matching some."""
    text = str(source)
    if any(ch in text for ch in "*?["):
        return bool(_glob.glob(text, recursive=True))
    p = Path(text)
    return p.is_dir() and next(p.rglob("*.parquet"), None) is not None


def is_folder_output(out) -> bool:
    """An ``--out`` naming a folder: no extension, or ending in ``/``."""
    return out is not None and (str(out).endswith(("/", os.sep)) or Path(str(out)).suffix == "")


def dataset_parts(source) -> tuple[Path | None, list[Path]]:
    """``(root folder or None, partition files in order)``: sorted by path, as a Parquet dataset reads them."""
    text = str(source)
    if any(ch in text for ch in "*?["):
        files = sorted(Path(p) for p in _glob.glob(text, recursive=True) if p.endswith((".parquet", ".geoparquet")))
        root = None
    elif Path(text).is_file():  # one GeoParquet file: a dataset of one partition
        root, files = None, [Path(text)]
    else:
        root = Path(text)
        files = sorted(p for p in root.rglob("*.parquet") if not any(part.startswith((".", "_")) for part in p.relative_to(root).parts))
    if not files:
        raise InputError(f"{text}: no .parquet files: a dataset is a folder (or a glob) of GeoParquet partitions")
    return root, files


def _hive(path: Path, root: Path | None) -> dict:
    if root is None:
        return {}
    out = {}
    for part in path.relative_to(root).parts[:-1]:
        if "=" in part:
            k, v = part.split("=", 1)
            out[k] = v
    return out


def _crs_of(schema) -> str | None:
    meta = (schema.metadata or {}).get(b"geo")
    if meta is None:
        return None
    geo = json.loads(meta)
    col = geo.get("primary_column", "geometry")
    crs = geo.get("columns", {}).get(col, {}).get("crs", "OGC:CRS84")
    if crs is None:
        return None
    from pyproj import CRS

    c = CRS.from_user_input(crs)
    epsg = c.to_epsg()
    return f"EPSG:{epsg}" if epsg else c.to_string()


def check_dataset(source) -> dict:
    """Partition files, their row offsets and the dataset's CRS, from the Parquet footers only.

    Raises :class:`~gis.errors.InputError` naming the first partition whose columns, types or CRS
    differ from the first partition's, or that is not readable Parquet.
    """
    import pyarrow.parquet as pq

    root, files = dataset_parts(source)
    offsets, first, first_crs, names = [], None, None, []
    total = 0
    for f in files:
        rel = f.relative_to(root) if root is not None else f
        try:
            pf = pq.ParquetFile(f)
        except Exception as exc:  # noqa: BLE001 - arrow errors of every kind
            raise InputError(f"{source}: partition {rel} is not readable Parquet ({str(exc).splitlines()[0]})") from None
        schema = pf.schema_arrow
        fields = {n: str(schema.field(n).type) for n in schema.names if not n.startswith("__index_level_")}
        crs = _crs_of(schema)
        if first is None:
            first, first_crs, first_name = fields, crs, rel
        else:
            if set(fields) != set(first):
                extra = sorted(set(fields) - set(first))
                missing = sorted(set(first) - set(fields))
                what = "; ".join(x for x in (f"has {', '.join(extra)}" if extra else "",
                                             f"lacks {', '.join(missing)}" if missing else "") if x)
                raise InputError(f"{source}: partition {rel} {what} (unlike {first_name}): every partition needs the same columns")
            differ = [n for n in fields if fields[n] != first[n] and not _compatible(fields[n], first[n])]
            if differ:
                n = differ[0]
                raise InputError(f"{source}: partition {rel} has {n} as {fields[n]}, {first_name} as {first[n]}: "
                                 f"every partition needs the same column types")
            if crs != first_crs:
                raise InputError(f"{source}: partition {rel} is in {crs or 'no CRS'}, {first_name} in {first_crs or 'no CRS'}: "
                                 f"every partition needs the same CRS")
        offsets.append(total)
        total += pf.metadata.num_rows
        names.append(str(rel))
    return {"root": root, "files": files, "offsets": offsets, "rows": total, "crs": first_crs, "names": names}


def _compatible(a: str, b: str) -> bool:
    """Types that read alike: string flavours, integer widths, null (an all-blank partition)."""
    kinds = [("string", "large_string", "utf8", "large_utf8"), ("int8", "int16", "int32", "int64")]
    if "null" in (a, b):
        return True
    if a.startswith("dictionary") or b.startswith("dictionary"):
        return True
    return any(a in k and b in k for k in kinds)


def read_part(path, root=None, *, with_findings: bool = False):
    """One partition as :func:`gis.io.read` reads a file, plus its hive keys (``key=value`` folders) as
    columns; with ``with_findings`` also the reader's findings (rows of the partition)."""
    from .io import read

    result = read(Path(path))
    gdf = result.frame
    for k, v in _hive(Path(path), None if root is None else Path(root)).items():
        if k not in gdf.columns:
            gdf[k] = pd.Categorical([v] * len(gdf))
    return (gdf, result.findings) if with_findings else gdf


def read_dataset(source):
    """A whole dataset in memory, partition after partition as the dask engine reads them (hive keys included)."""
    import geopandas as gpd

    info = check_dataset(source)
    parts = [read_part(f, info["root"]) for f in info["files"]]
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry=parts[0].geometry.name, crs=parts[0].crs)


# ------------------------------------------------------------------------------------------ cluster
@contextlib.contextmanager
def connect(scheduler: str | None = None, *, workers: int | None = None, memory_limit=None, processes: bool = True,
            timeout_s: float | None = None):
    """A :class:`distributed.Client`: to ``scheduler`` (or ``DASK_SCHEDULER_ADDRESS``), else a local cluster of
    ``workers`` single-threaded workers (default: one per core) with ``memory_limit`` each ("4GB", "auto")."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise EngineError(f"the dask engine needs dask.distributed ({exc.name} is missing): install parkgis with "
                          "its scale extra") from None
    import dask

    address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    if timeout_s is None:  # dask's own setting when it is shorter than our 10 s
        from dask.utils import parse_timedelta

        timeout_s = min(10.0, parse_timedelta(dask.config.get("distributed.comm.timeouts.connect", "10s")))
    with dask.config.set({"distributed.comm.timeouts.connect": f"{timeout_s}s", "distributed.scheduler.allowed-failures": 2,
                          "distributed.admin.system-monitor.gil.enabled": False,
                          "distributed.worker.daemon": False}):
        if address:
            try:
                client = Client(address, timeout=timeout_s, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise EngineError(f"cannot reach the dask scheduler at {address}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
            try:
                yield client
            finally:
                client.close()
            return
        n = workers or os.cpu_count() or 1
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=processes, memory_limit=memory_limit or "auto",
                               dashboard_address=None,
                               silence_logs=max(logging.ERROR, logging.getLogger("distributed").getEffectiveLevel()))
        client = Client(cluster, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
            cluster.close()


_NO_WORKER_S = 20.0


def _gather(client, futures, progress, what):
    """Results of ``futures`` in order, reporting each one done; worker loss and task errors as one line."""
    if progress:
        progress(what, 0, len(futures))
    pending = set(range(len(futures)))
    results: dict = {}
    alone_since = None
    try:
        while pending:
            finished = {i for i in pending if futures[i].status != "pending"}  # statuses only: no event loop of ours
            if not finished:
                time.sleep(0.2)
            if any(futures[i].status in ("error", "cancelled", "lost") for i in finished):
                break  # gather raises the task's error
            for i in finished:  # fetched and released at once: a worker does not hold every partition's result
                results[i] = futures[i].result()
                futures[i].release()
            pending -= finished
            if progress and finished:
                progress(what, len(futures) - len(pending), len(futures))
            if pending and not client.scheduler_info().get("workers"):  # a cluster with no worker waits for ever
                alone_since = alone_since or time.monotonic()
                if time.monotonic() - alone_since > _NO_WORKER_S:
                    raise EngineError(f"the dask cluster has had no worker for {_NO_WORKER_S:g} s (every worker died or "
                                      "none was started); nothing was written")
            else:
                alone_since = None
        if pending:
            client.gather([futures[i] for i in pending])  # raises the error that stopped the loop
        return [results[i] for i in range(len(futures))]
    except ParkGISError:
        raise
    except Exception as exc:  # noqa: BLE001 - KilledWorker, CommClosedError … from the cluster
        name = type(exc).__name__
        if name in ("KilledWorker", "CommClosedError", "CancelledError", "FutureCancelledError"):
            raise EngineError(f"the dask cluster lost the work ({name}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                              "nothing was written") from None
        raise


def _run(client, fn, *args, progress=None, what="", retries: int = 1):
    """``fn`` on every partition (``args`` are lists, one item per partition), results in order. Dask runs a
    task again when its worker dies; when the cluster still loses the work (a worker lost while the
    results were on their way), the whole pass runs once more — every task is pure and replaces its own
    output files whole — before the error is raised."""
    for attempt in range(retries + 1):
        futures = client.map(fn, *args, pure=False)
        try:
            return _gather(client, futures, progress, what)
        except EngineError:
            if attempt == retries:
                raise
            log.info("the cluster lost part of the %s pass: running it again", what)
        finally:
            client.cancel(futures)


# ------------------------------------------------------------------------------------------ audit
def _facts_task(path, root, offset, plan, id_column=None):
    from .audit_partition import _id_hashes, partition_facts, prepare

    if not plan.scores and id_column is not None:  # duplicates only: the id column is all this pass needs
        import pyarrow.parquet as pq

        from .parcels import clean_text

        ids = pq.read_table(path, columns=[id_column]).column(0).to_pandas()
        return {"ids": _id_hashes(pd.DataFrame({"parcel_id": clean_text(ids)})), "scores": {}, "columns": []}
    return partition_facts(plan, prepare(plan, read_part(path, root), offset=offset))


def _id_column(info, headers):
    """The dataset's column that the header mapping makes ``parcel_id`` (None when it has none or it is a hive key)."""
    report = _header_report(info, headers)
    hit = report.loc[report["field"] == "parcel_id", "header"]
    if not len(hit):
        return None
    name = hit.iloc[0]
    return name if name not in _hive(info["files"][0], info["root"]) else None


def _scores_task(path, root, offset, plan, glob):
    from .audit_partition import partition_scores, prepare

    return partition_scores(plan, prepare(plan, read_part(path, root), offset=offset), glob)


def _finish_task(path, root, offset, plan, glob, out_dir, index, keep, findings_dir=None):
    from .audit import count_findings
    from .audit_partition import finish_partition, prepare

    part = finish_partition(plan, prepare(plan, read_part(path, root), offset=offset), glob)
    if out_dir is not None:
        _write_part(part.parcels, Path(out_dir), index)
    if findings_dir is not None:  # the parcels' findings stay on disk; the client gets the layer's own and counts
        rows = part.findings["row"].notna().to_numpy()
        mine = part.findings[rows].copy()
        mine["row"] = mine["row"] + 1  # 1 = first parcel of the input, as in every findings table
        _write_part(mine, Path(findings_dir), index)
        part.row_finding_counts = count_findings(mine)
        part.findings = part.findings[~rows]
    if not keep:
        part.parcels = None
    return part


def write_parts(frame, folder, *, rows: int = 1_000_000) -> list[Path]:
    """A frame as a partitioned GeoParquet dataset in ``folder`` (an existing empty folder), ``rows`` per part."""
    folder = Path(folder)
    n = max(1, -(-len(frame) // rows))
    for i in range(n):
        _write_part(frame.iloc[i * rows:(i + 1) * rows], folder, i)
    return sorted(folder.glob("part.*.parquet"))


def _write_part(frame, folder: Path, index: int) -> None:
    """One partition of the parcels, categoricals as text (every partition then has the same schema)."""
    import geopandas as gpd
    import pyarrow as pa

    from .io._write import write_geoparquet, write_parquet_table  # the writer of every other Parquet output

    target = folder / f"part.{index:05d}.parquet"
    tmp = folder / f".part.{index:05d}.parquet.tmp"
    if isinstance(frame, gpd.GeoDataFrame):
        write_geoparquet(frame, tmp, index=False)
    else:
        write_parquet_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
    os.replace(tmp, target)  # a task run again after a lost worker replaces its own file whole


def audit_dataset(source, rules=None, *, by=None, zones=None, headers=None, min_area_m2: float = 1.0,
                  declared_tolerance_pct: float = 5.0, client, parcels_dir=None, findings_dir=None,
                  keep_parcels: bool = False, progress=None):
    """Audit a partitioned dataset on ``client``; returns an :class:`~gis.audit.AuditResult`.

    Every partition is audited on a worker by the in-memory audit's own map functions, in up to three
    passes (facts for duplicates and benchmarks; score values when a score classes by rank; the
    finish). With ``parcels_dir`` (an existing empty folder) each worker writes its partition's
    parcels there as ``part.NNNNN.parquet``; ``keep_parcels`` brings them back (small data, tests). With
    ``findings_dir`` each worker writes its parcels' findings there the same way (rows of the whole
    layer, 1-based), and ``result.findings`` holds only the layer's own findings (headers, duplicates,
    summary rules) while ``result.finding_counts`` counts them all: the client never holds millions.
    ``progress(what, done, total)`` is called as partitions finish.
    """
    from .audit import AuditResult, audit_plan, set_rank_cuts
    from .audit_partition import reduce_facts
    from .audit_reduce import reduce_partitions

    info = check_dataset(source)
    plan = audit_plan(rules, by=by, zones=zones, headers=headers, min_area_m2=min_area_m2,
                      declared_tolerance_pct=declared_tolerance_pct)
    files = [str(f) for f in info["files"]]
    root = None if info["root"] is None else str(info["root"])
    n = len(files)
    plan_f = plan  # in every task (not scattered: data held by one worker is lost with it)
    roots, offsets = [root] * n, info["offsets"]
    t0 = time.perf_counter()
    id_col = _id_column(info, headers)
    facts = _run(client, _facts_task, files, roots, offsets, [plan_f] * n, [id_col] * n, progress=progress, what="facts")
    glob = reduce_facts(plan, facts)
    log.info("pass 1 (ids, benchmarks) of %d partitions: %.1f s", n, time.perf_counter() - t0)
    if plan.rank_scores:
        glob_f = glob
        values = _run(client, _scores_task, files, roots, offsets, [plan_f] * n, [glob_f] * n, progress=progress,
                      what="scores")
        set_rank_cuts(plan, glob, values)
    glob_f = glob
    out_dir = None if parcels_dir is None else str(parcels_dir)
    fdir = None if findings_dir is None else str(findings_dir)
    parts = _run(client, _finish_task, files, roots, offsets, [plan_f] * n, [glob_f] * n, [out_dir] * n, list(range(n)),
                 [keep_parcels] * n, [fdir] * n, progress=progress, what="audit")
    log.info("last pass (audit) of %d partitions: %.1f s", n, time.perf_counter() - t0)
    t0 = time.perf_counter()
    tables = reduce_partitions(plan, parts)
    log.info("reduce: %.1f s", time.perf_counter() - t0)
    parcels = None
    if keep_parcels:
        import geopandas as gpd

        parcels = gpd.GeoDataFrame(pd.concat([p.parcels for p in parts], ignore_index=True), crs=parts[0].parcels.crs)
    log.info("audited %d parcels in %d partitions: %d findings", info["rows"], n, len(tables["findings"]))
    counts = None
    if fdir is not None:
        from .audit import add_finding_counts, count_findings

        counts = add_finding_counts([count_findings(tables["findings"]), *[p.row_finding_counts for p in parts]])
    return AuditResult(parcels=parcels, summary=tables["summary"], findings=tables["findings"], rules=tables["rules"],
                       indicators=tables["indicators"], columns=_header_report(info, headers),
                       verdicts=tables["verdict_counts"], parcels_path=out_dir, findings_path=fdir, finding_counts=counts)


def _input_columns(info) -> list:
    import pyarrow.parquet as pq

    names = [n for n in pq.ParquetFile(info["files"][0]).schema_arrow.names if not n.startswith("__index_level_")]
    return names + [k for k in _hive(info["files"][0], info["root"]) if k not in names]


def _header_report(info, headers) -> pd.DataFrame:
    """The header report of the dataset's columns (the same for every partition)."""
    from .parcels import map_headers

    cols = [c for c in _input_columns(info) if c != "geometry"]
    return map_headers(pd.DataFrame({c: pd.Series([], dtype=object) for c in cols}), headers=headers)[1]


# ------------------------------------------------------------------------------------------ areas
def _areas_task(path, root, by, out_dir, index):
    from .area import add_area_columns, area_group_sums
    from .validate import row_notes, validate

    gdf, read_findings = read_part(path, root, with_findings=True)
    report = validate(gdf, checks={"geometry"})
    measured = add_area_columns(gdf, valid=report.valid)
    measured["findings"] = row_notes(gdf, report, read_findings).to_numpy()
    if out_dir is not None and by is None:
        _write_part(measured, Path(out_dir), index)
    totals = {"features": len(measured), "features_unmeasured": int(measured["area_m2"].isna().sum())}
    for c in ("area_m2", "area_ha", "area_mu", "area_km2"):
        totals[c] = float(measured[c].sum(min_count=1)) if measured[c].notna().any() else np.nan
    grouped = area_group_sums(measured, by) if by is not None else None
    return totals, grouped


def areas_dataset(source, *, by=None, client, parcels_dir=None, progress=None):
    """Ellipsoidal areas of every partition of a dataset on ``client`` (:func:`gis.area.add_area_columns`).

    Returns ``(totals, grouped)``: the whole layer's feature count and area sums, and with ``by`` the
    areas per value of ``by`` added up over the partitions (as :func:`gis.area.areas_by` gives them for
    one frame). With ``parcels_dir`` (and no ``by``) each worker writes its measured partition there.
    """
    info = check_dataset(source)
    files = [str(f) for f in info["files"]]
    n = len(files)
    root = None if info["root"] is None else str(info["root"])
    if by is not None and by not in _input_columns(info):
        raise InputError(f"no field {by!r} in {source}; fields: {', '.join(c for c in _input_columns(info) if c != 'geometry')}")
    out_dir = None if parcels_dir is None else str(parcels_dir)
    res = _run(client, _areas_task, files, [root] * n, [by] * n, [out_dir] * n, list(range(n)), progress=progress,
               what="areas")
    totals = pd.DataFrame([t for t, _ in res]).sum(min_count=1)
    grouped = None
    if by is not None:
        grouped = _add_area_groups([g for _, g in res], by)
    return totals, grouped


def _add_area_groups(parts, by) -> pd.DataFrame:
    from .area import add_area_group_sums, finish_area_groups

    return finish_area_groups(add_area_group_sums(parts, by), by)


# ------------------------------------------------------------------------------------------ outputs
def write_dataset_outputs(result, folder: Path) -> list[Path]:
    """The audit's tables as files in ``folder`` beside ``parcels/``: the parcels' findings as the dataset
    ``findings/`` (unless the workers wrote it), and summary, the layer's own findings, rules, indicators,
    columns and verdict counts as CSV."""
    from .audit_output import _plain_types

    written = []
    findings = result.findings
    rows = findings["row"].notna().to_numpy()
    (folder / "findings").mkdir(exist_ok=True)
    if result.findings_path is None:  # all findings held: the parcels' go to findings/ as the dask engine writes them
        write_parts(findings[rows], folder / "findings")
    elif rows.any():  # parcels' findings found across partitions (duplicate ids): one more part
        _write_part(findings[rows], folder / "findings", len(list((folder / "findings").glob("part.*.parquet"))))
    findings = findings[~rows]
    tables = {"summary": result.summary, "findings": findings, "rules": result.rules,
              "indicators": result.indicators, "columns": result.columns, "verdicts": result.verdict_counts()}
    for name, table in tables.items():
        p = folder / f"{name}.csv"
        _plain_types(table).to_csv(p, index=False, encoding="utf-8")
        written.append(p)
    return written
