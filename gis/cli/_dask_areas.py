"""``parkgis areas DATASET`` on the dask engine (called from :mod:`gis.cli.areas`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..errors import InputError
from ._common import console, print_frame
from ._progress import progress_bar, quiet_cluster

__all__ = ["areas_on_dask"]


def areas_on_dask(source, *, by, out, overwrite, scheduler, workers, memory_limit, show_progress) -> None:
    """Areas of every partition of a GeoParquet dataset: totals (and per ``by``) printed; with ``--out FOLDER/``
    the measured partitions as a dataset (written atomically), with ``--by --out FILE`` the grouped table."""
    from ..dask_engine import areas_dataset, connect, is_folder_output
    from ..io import atomic_output, check_output, write_layer

    folder = Path(str(out).rstrip("/\\")) if is_folder_output(out) else None
    if out and by is None and folder is None:
        raise InputError(f"the dask engine writes the measured parcels as a folder: pass --out {Path(out).with_suffix('')}/")
    if out and by is not None and folder is not None:
        raise InputError("with --by the areas per group are one table: pass --out FILE.csv (or .xlsx, .parquet)")
    if folder is not None:
        check_output(folder, overwrite=overwrite, inputs=[source])
    elif out:
        check_output(out, overwrite=overwrite, inputs=[source])
    with quiet_cluster(), connect(scheduler, workers=workers, memory_limit=memory_limit) as client, \
            progress_bar(show_progress) as progress:
        if folder is not None:
            with atomic_output(folder, directory=True, overwrite=overwrite, inputs=[source]) as tmp:
                totals, grouped = areas_dataset(source, by=None, client=client, parcels_dir=tmp, progress=progress)
        else:
            totals, grouped = areas_dataset(source, by=by, client=client, progress=progress)
    if grouped is not None:
        if out:
            shown = write_layer(grouped, out, overwrite=overwrite, inputs=[source])
            console.print(f"wrote {shown}")
        print_frame(grouped, title=f"areas of {source} by {by}")
        return
    if folder is not None:
        console.print(f"wrote {folder}/ ({int(totals['features'])} features with their areas)")
    table = pd.DataFrame([totals]).astype({"features": "int64", "features_unmeasured": "int64"})
    print_frame(table, title=f"areas of {source} (every partition)")
