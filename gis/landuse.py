"""Land-use codes of both Chinese systems and the crosswalk between them (data in ``gis/data``).

GB 50137-2011 codes (``M1``, ``W2``, ``A1`` …) and the 2023 国土空间调查、规划、用途管制用地用海分类
codes (``1001``, ``100101``, ``1101`` …) are looked up in ``gis/data/landuse_crosswalk.csv``; a code
may also be written as its Chinese name (``二类工业用地``). Sub-codes not listed inherit from their
parent (``M21`` → ``M2``, ``10010101`` → ``100101``).

>>> lu = classify_landuse(["M2", "100101", "二类工业用地", "B1", "X9", None])
>>> lu["landuse_gb"].tolist()[:4], lu["is_industrial"].tolist()[:4], lu["landuse_known"].tolist()
(['M2', 'M1', 'M2', 'B1'], [True, True, True, False], [True, True, True, True, False, True])
"""

from __future__ import annotations

import functools
import logging
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["CROSSWALK_PATH", "COLOURS_PATH", "load_crosswalk", "normalise_codes", "classify_landuse", "industrial_codes",
           "landuse_colours", "colour_of"]

log = logging.getLogger(__name__)

CROSSWALK_PATH = Path(__file__).resolve().parent / "data" / "landuse_crosswalk.csv"


@functools.lru_cache(maxsize=4)
def _load(path: str) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    df = df.replace({"": None})
    df["is_industrial"] = df["is_industrial"].str.lower().map({"true": True, "false": False})
    if df["source"].isna().any():
        raise ValueError(f"{path}: every crosswalk row needs a source")
    return df


def load_crosswalk(path=None) -> pd.DataFrame:
    """The crosswalk table (a copy): gb50137_code, code_2023, names, is_industrial, category, source."""
    return _load(str(Path(path or CROSSWALK_PATH).resolve())).copy()


@functools.lru_cache(maxsize=4)
def _lookup(path: str) -> pd.DataFrame:
    """One row per accepted spelling (either code or a Chinese name) -> the crosswalk row's facts."""
    cw = _load(path)
    frames = []
    for key in ("gb50137_code", "code_2023", "gb50137_name_zh", "name_2023_zh"):
        part = cw[cw[key].notna()].assign(key=lambda d, k=key: d[k].map(_norm_one))
        frames.append(part)
    lk = pd.concat(frames, ignore_index=True).drop_duplicates("key", keep="first").set_index("key")
    return lk[["gb50137_code", "code_2023", "name_en", "gb50137_name_zh", "name_2023_zh", "is_industrial", "category"]]


def _norm_one(text):
    return unicodedata.normalize("NFKC", str(text)).strip().upper().replace(" ", "")


def normalise_codes(values) -> pd.Series:
    """Codes as written -> canonical spelling (NFKC full-width to ASCII, upper case, no spaces).

    A code with a name glued on (``"M2 二类工业用地"``, ``"100101一类工业用地"``) keeps the code.
    """
    s = values if isinstance(values, pd.Series) else pd.Series(values, dtype="object")
    cat = pd.Categorical(s.astype(object))  # work on the distinct values only
    text = pd.Series(cat.categories, dtype="object").map(str).str.normalize("NFKC").str.strip().str.upper()
    code = text.str.extract(r"^([A-Z]\d{0,3}|\d{2,8})(?![A-Z0-9])", expand=False)
    norm = code.where(code.notna(), text.str.replace(" ", "", regex=False))
    norm = norm.where(text.ne(""), None)
    per_cat = np.append(norm.to_numpy(dtype=object), None)
    out = per_cat[np.asarray(cat.codes)]
    return pd.Series(out, index=s.index if isinstance(values, pd.Series) else None, dtype="object")


def classify_landuse(values, *, path=None) -> pd.DataFrame:
    """Classify land-use codes of either system; vectorised (one lookup per distinct code).

    Returns a DataFrame on the input's index: ``landuse_code`` (normalised), ``landuse_gb`` and
    ``landuse_2023`` (the crosswalk's codes), ``landuse_name_zh``, ``landuse_name_en``,
    ``landuse_category``, ``is_industrial`` (nullable boolean; <NA> when unknown or blank) and
    ``landuse_known`` (False only for a non-blank code that is not in the crosswalk).
    """
    index = values.index if isinstance(values, (pd.Series, pd.Index)) else None
    codes = normalise_codes(values)
    if index is not None:
        codes.index = index
    lk = _lookup(str(Path(path or CROSSWALK_PATH).resolve()))
    written = pd.Categorical(codes)
    # one lookup per *distinct* code, then a vectorised take by category number
    keys = [_resolve(c, lk) for c in written.categories]
    table = lk.reindex(pd.Index(keys, dtype="object"))
    take = np.asarray(written.codes)
    blank = take < 0
    found = np.zeros(len(keys) + 1, dtype=bool)
    found[:-1] = [k is not None for k in keys]
    hit = found[take]  # take == -1 picks the last slot (False)

    def col(name):
        """Per-row values as a categorical, built from one value per distinct written code."""
        per_code = pd.Categorical(np.where(found[:-1], table[name].to_numpy(dtype=object), None))
        row_codes = np.append(np.asarray(per_code.codes), -1)[take]
        return pd.Series(pd.Categorical.from_codes(row_codes, categories=per_code.categories), index=codes.index)

    ind_per_code = np.append(table["is_industrial"].to_numpy(dtype=object), None)
    ind_values = ind_per_code[take]
    ind_values[~hit] = None

    out = pd.DataFrame(index=codes.index)
    out["landuse_code"] = pd.Series(written, index=codes.index)
    out["landuse_gb"] = col("gb50137_code")
    out["landuse_2023"] = col("code_2023")
    zh = col("gb50137_name_zh").astype("object")
    out["landuse_name_zh"] = zh.where(zh.notna(), col("name_2023_zh").astype("object")).astype("category")
    out["landuse_name_en"] = col("name_en")
    out["landuse_category"] = col("category")
    out["is_industrial"] = pd.array(ind_values, dtype="boolean")
    out["landuse_known"] = hit | blank
    return out


def _resolve(code: str, lk: pd.DataFrame):
    """The crosswalk key for a code, walking up to the parent code for unlisted sub-codes."""
    probe = code
    while probe:
        if probe in lk.index:
            return probe
        if probe[0].isalpha():
            probe = probe[:-1] if len(probe) > 1 else ""
        else:
            probe = probe[:-2] if len(probe) > 2 else ""
    return None


def industrial_codes(*, path=None) -> list[str]:
    """Every code (both systems) flagged ``is_industrial`` in the crosswalk."""
    cw = load_crosswalk(path)
    ind = cw[cw["is_industrial"] == True]  # noqa: E712 - object column of bools
    return sorted(set(ind["gb50137_code"].dropna()) | set(ind["code_2023"].dropna()))


COLOURS_PATH = Path(__file__).resolve().parent / "data" / "landuse_colours.csv"


@functools.lru_cache(maxsize=2)
def _colour_table(path: str) -> dict:
    import csv

    out = {}
    with open(path, encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if not (row.get("source") or "").strip():
                raise ValueError(f"{path}: the colour of {row['code']} has no source")
            entry = (row["colour"], row["name_zh"], row["name_en"])
            out[row["code"]] = entry
            if row["code_2023"]:
                out.setdefault(row["code_2023"], entry)
    return out


def landuse_colours(path=None) -> dict:
    """Land-use code (GB 50137-2011 letter or 2023 用地用海 number) → (colour, name_zh, name_en), from the one
    colour table ``gis/data/landuse_colours.csv`` (each row with its source). Maps, slides and the
    store's QGIS styles all draw from it."""
    return dict(_colour_table(str(Path(path or COLOURS_PATH))))


def colour_of(code) -> str:
    """The colour of a code: its own row, else its class's (``M1`` → ``M``, ``070102`` → ``07``), else grey."""
    table = _colour_table(str(COLOURS_PATH))
    code = "" if code is None else str(code).strip()
    for key in (code, code[:4], code[:2], code[:1]):
        if key and key in table:
            return table[key][0]
    return table["OTHER"][0]
