"""Training and evaluation data: the formats, validated on load.

Three kinds (the README's "Data formats" section has a tiny example of each):

* **Fine-grained series** (FGAesthetics-like) — :class:`FineDataset`. One folder per series
  under a root, plus a label file beside them:

  - pairwise preferences, CSV ``series,a,b,p[,caption]`` with ``p`` = P(a > b) in [0, 1];
  - a full ranking, CSV ``series,rank,file`` (rank 1 = best);
  - JSON ``{"series": {"name": ["best.jpg", ..., "worst.jpg"]}}`` (rankings) and/or
    ``{"pairs": [{"series": ..., "a": ..., "b": ..., "p": ..., "caption": ...}]}``.

* **Coarse scores** (AVA-like) — :class:`CoarseDataset`. CSV ``path,mos`` (MOS on the 1..10
  scale) or ``path,v1,...,v10`` (a 10-bin vote histogram; MOS = its mean). Paths are relative
  to the CSV's folder.

* **Edit pairs** (RED-Aes-like) — :class:`EditPairDataset`: ``edits:FOLDER`` makes a fixed set
  of controlled-edit pairs from any folder of good photos (:mod:`photocull.train.edits`).

Every problem found while loading raises :class:`DatasetError`, whose message starts with
``FILE:LINE:`` — the label file and the line (1-based, the header is line 1) — and says what
is wrong and what was expected.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from photocull.train.edits import EditPair, EditPairSampler, load_image, load_photo_folder

__all__ = [
    "CoarseDataset",
    "CoarseItem",
    "DatasetError",
    "EditPairDataset",
    "FineDataset",
    "PairLabel",
    "SeriesLabel",
    "load_coarse",
    "load_dataset",
    "load_fine",
]

LABEL_NAMES = ("labels.csv", "labels.json", "pairs.csv", "ranking.csv", "scores.csv", "series.json")
NUM_BINS = 10


class DatasetError(ValueError):
    """A problem in a dataset's label file: ``FILE:LINE: message``."""

    def __init__(self, path: str | Path, line: int | None, message: str):
        self.path = Path(path)
        self.line = line
        self.message = message
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")


# ------------------------------------------------------------------------------------------
# Records


@dataclass
class PairLabel:
    """``P(a > b) = p`` for two frames of one series (file names inside the series folder)."""

    series: str
    a: str
    b: str
    p: float
    caption: str | None = None
    line: int | None = None


@dataclass
class SeriesLabel:
    """One series: its folder, its labelled frames, and a ranking (best first) when given."""

    name: str
    folder: Path
    files: list[str] = field(default_factory=list)
    ranking: list[str] | None = None
    pairs: list[PairLabel] = field(default_factory=list)

    def path(self, file: str) -> Path:
        return self.folder / file

    def all_pairs(self) -> list[PairLabel]:
        """The labelled pairs, or every pair of the ranking (better first, p = 1)."""
        if self.pairs:
            return list(self.pairs)
        r = self.ranking or []
        return [PairLabel(self.name, r[i], r[j], 1.0) for i in range(len(r)) for j in range(i + 1, len(r))]

    def preference_scores(self) -> dict[str, float]:
        """A ground-truth score per frame: minus the rank when ranked, else the mean P(win)."""
        if self.ranking:
            return {f: float(len(self.ranking) - i) for i, f in enumerate(self.ranking)}
        wins: dict[str, list[float]] = {f: [] for f in self.files}
        for pr in self.pairs:
            wins[pr.a].append(pr.p)
            wins[pr.b].append(1.0 - pr.p)
        return {f: (float(np.mean(v)) if v else 0.5) for f, v in wins.items()}

    def best(self) -> set[str]:
        """The labelled best frame(s) (ties included)."""
        s = self.preference_scores()
        if not s:
            return set()
        top = max(s.values())
        return {f for f, v in s.items() if v >= top - 1e-12}


class _ImageCache:
    def __init__(self, long_side: int | None, capacity: int = 4096):
        self.long_side = long_side
        self.capacity = capacity
        self._d: dict[Path, np.ndarray] = {}

    def get(self, path: Path) -> np.ndarray:
        img = self._d.get(path)
        if img is None:
            try:
                img = load_image(path, self.long_side)
            except (OSError, ValueError) as exc:
                raise DatasetError(path, None, f"cannot read the image ({exc})") from exc
            if len(self._d) >= self.capacity:
                self._d.pop(next(iter(self._d)))
            self._d[path] = img
        return img


@dataclass
class FineDataset:
    """Series with pairwise preferences or rankings (``kind`` = "pairs", "ranking" or "mixed")."""

    source: Path
    root: Path
    series: list[SeriesLabel]
    kind: str
    long_side: int | None = 512

    def __post_init__(self) -> None:
        self._cache = _ImageCache(self.long_side)
        self._pairs: list[PairLabel] | None = None
        self._by_name = {s.name: s for s in self.series}

    def __len__(self) -> int:
        return len(self.series)

    def pairs(self) -> list[PairLabel]:
        if self._pairs is None:
            self._pairs = [p for s in self.series for p in s.all_pairs()]
        return self._pairs

    def image(self, series: str, file: str) -> np.ndarray:
        return self._cache.get(self._by_name[series].path(file))

    def series_images(self, s: SeriesLabel) -> list[np.ndarray]:
        return [self._cache.get(s.path(f)) for f in s.files]


@dataclass
class CoarseItem:
    path: Path
    mos: float  # 1..10
    hist: np.ndarray | None = None  # (10,) normalised vote histogram
    line: int | None = None


@dataclass
class CoarseDataset:
    """Single images with a MOS (1..10) and, when given, a 10-bin vote histogram."""

    source: Path
    items: list[CoarseItem]
    long_side: int | None = 512

    def __post_init__(self) -> None:
        self._cache = _ImageCache(self.long_side)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def has_hist(self) -> bool:
        return all(it.hist is not None for it in self.items)

    def image(self, i: int) -> np.ndarray:
        return self._cache.get(self.items[i].path)


@dataclass
class EditPairDataset:
    """A fixed set of ``n`` edit pairs (``pair(i)`` for i < n) from a sampler."""

    sampler: EditPairSampler
    n: int
    source: Path | None = None

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[EditPair]:
        return (self.sampler.pair(i) for i in range(self.n))

    @classmethod
    def from_folder(cls, folder: str | Path, n: int = 500, seed: int = 1234,
                    families: Sequence[str] | None = None, long_side: int = 512) -> EditPairDataset:
        imgs = load_photo_folder(folder, long_side=long_side)
        return cls(EditPairSampler(imgs, families, seed=seed), n, Path(folder))


# ------------------------------------------------------------------------------------------
# CSV helpers


def _read_csv(path: Path) -> tuple[list[str], int, list[tuple[int, list[str]]]]:
    """Header (lower-cased, stripped), its line, and ``(line number, cells)`` of the other rows."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(path, None, f"not UTF-8 text ({exc})") from exc
    lines = text.splitlines()
    rows: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    header_line = 1
    for lineno, cells in zip(range(1, len(lines) + 1), csv.reader(lines)):
        cells = [c.strip() for c in cells]
        if not any(cells) or cells[0].startswith("#"):
            continue
        if header is None:
            header = [c.lower() for c in cells]
            header_line = lineno
            continue
        rows.append((lineno, cells))
    if header is None:
        raise DatasetError(path, 1, "the file is empty (expected a header line)")
    return header, header_line, rows


def _number(path: Path, line: int, column: str, value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise DatasetError(path, line, f"{column} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise DatasetError(path, line, f"{column} must be finite, got {value!r}")
    return x


def _cells(path: Path, line: int, cells: list[str], n: int, header: list[str]) -> list[str]:
    if len(cells) != n:
        raise DatasetError(path, line, f"expected {n} columns ({','.join(header)}), got {len(cells)}")
    return cells


# ------------------------------------------------------------------------------------------
# Fine-grained series


def _series_folder(root: Path, source: Path, line: int | None, name: str) -> Path:
    if not name:
        raise DatasetError(source, line, "empty series name")
    folder = root / name
    if not folder.is_dir():
        raise DatasetError(source, line, f"series folder {folder} does not exist")
    return folder


def _check_file(source: Path, line: int | None, folder: Path, file: str) -> None:
    if not file:
        raise DatasetError(source, line, "empty file name")
    if not (folder / file).is_file():
        raise DatasetError(source, line, f"{folder / file} does not exist")


def _json_line(text: str, needle: str) -> int | None:
    """The 1-based line of the first occurrence of ``"needle"`` in a JSON text."""
    token = json.dumps(needle)
    for i, ln in enumerate(text.splitlines(), 1):
        if token in ln:
            return i
    return None


def _fine_from_csv(path: Path, root: Path, long_side: int | None) -> FineDataset:
    header, hl, rows = _read_csv(path)
    series: dict[str, SeriesLabel] = {}

    def get(name: str, line: int) -> SeriesLabel:
        s = series.get(name)
        if s is None:
            s = series[name] = SeriesLabel(name, _series_folder(root, path, line, name))
        return s

    if header[:4] == ["series", "a", "b", "p"] and len(header) in (4, 5) and header[4:] in ([], ["caption"]):
        kind = "pairs"
        for line, cells in rows:
            if len(cells) == 4 and len(header) == 5:
                cells = [*cells, ""]
            name, a, b, p_s, *cap = _cells(path, line, cells, len(header), header)
            s = get(name, line)
            p = _number(path, line, "p", p_s)
            if not 0.0 <= p <= 1.0:
                raise DatasetError(path, line, f"p = P(a > b) must be in [0, 1], got {p_s}")
            if a == b:
                raise DatasetError(path, line, f"a and b are the same frame ({a!r})")
            for f in (a, b):
                _check_file(path, line, s.folder, f)
                if f not in s.files:
                    s.files.append(f)
            s.pairs.append(PairLabel(name, a, b, p, (cap[0] or None) if cap else None, line))
    elif header == ["series", "rank", "file"]:
        kind = "ranking"
        ranks: dict[str, dict[int, tuple[str, int]]] = {}
        for line, cells in rows:
            name, r_s, file = _cells(path, line, cells, 3, header)
            s = get(name, line)
            r = _number(path, line, "rank", r_s)
            if r != int(r) or r < 1:
                raise DatasetError(path, line, f"rank must be a whole number >= 1, got {r_s}")
            _check_file(path, line, s.folder, file)
            seen = ranks.setdefault(name, {})
            if int(r) in seen:
                raise DatasetError(path, line, f"series {name!r} already has rank {int(r)} "
                                               f"(line {seen[int(r)][1]})")
            for other_file, other_line in seen.values():
                if other_file == file:
                    raise DatasetError(path, line, f"{file!r} is ranked twice in series {name!r} "
                                                   f"(also line {other_line})")
            seen[int(r)] = (file, line)
        for name, seen in ranks.items():
            order = [seen[k][0] for k in sorted(seen)]
            series[name].ranking = order
            series[name].files = list(order)
    else:
        raise DatasetError(path, hl, "unknown header " + ",".join(header) + "; expected "
                           "series,a,b,p (pairwise preferences, optional caption column) "
                           "or series,rank,file (rankings)")
    if not series:
        raise DatasetError(path, None, "no labelled series")
    return FineDataset(path, root, list(series.values()), kind, long_side)


def _fine_from_json(path: Path, root: Path, long_side: int | None) -> FineDataset:
    text = path.read_text(encoding="utf-8-sig")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(path, exc.lineno, f"invalid JSON: {exc.msg}") from None
    if not isinstance(doc, dict) or not ({"series", "pairs"} & set(doc)):
        raise DatasetError(path, 1, 'expected {"series": {"name": ["best.jpg", ..., "worst.jpg"]}} '
                                    'and/or {"pairs": [{"series", "a", "b", "p"}, ...]}')
    series: dict[str, SeriesLabel] = {}
    rankings = doc.get("series", {})
    if not isinstance(rankings, dict):
        raise DatasetError(path, _json_line(text, "series"), '"series" must map names to lists of files')
    for name, files in rankings.items():
        line = _json_line(text, name)
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise DatasetError(path, line, f"series {name!r} must be a list of file names, best first")
        if len(set(files)) != len(files):
            dup = next(f for f in files if files.count(f) > 1)
            raise DatasetError(path, _json_line(text, dup) or line, f"{dup!r} is listed twice in series {name!r}")
        s = SeriesLabel(name, _series_folder(root, path, line, name))
        for f in files:
            _check_file(path, _json_line(text, f) or line, s.folder, f)
        s.ranking, s.files = list(files), list(files)
        series[name] = s
    pairs = doc.get("pairs", [])
    if not isinstance(pairs, list):
        raise DatasetError(path, _json_line(text, "pairs"), '"pairs" must be a list')
    kind = "ranking" if rankings else "pairs"
    for i, pr in enumerate(pairs):
        line = None
        if isinstance(pr, dict) and isinstance(pr.get("a"), str):
            line = _json_line(text, pr["a"])
        if not isinstance(pr, dict) or not {"series", "a", "b", "p"} <= set(pr):
            raise DatasetError(path, line, f"pairs[{i}] must have series, a, b and p")
        name, a, b = str(pr["series"]), str(pr["a"]), str(pr["b"])
        try:
            p = float(pr["p"])
        except (TypeError, ValueError):
            raise DatasetError(path, line, f"pairs[{i}].p must be a number, got {pr['p']!r}") from None
        if not 0.0 <= p <= 1.0:
            raise DatasetError(path, line, f"pairs[{i}].p = P(a > b) must be in [0, 1], got {p}")
        if a == b:
            raise DatasetError(path, line, f"pairs[{i}]: a and b are the same frame ({a!r})")
        s = series.get(name)
        if s is None:
            s = series[name] = SeriesLabel(name, _series_folder(root, path, line, name))
        elif s.ranking:
            kind = "mixed"
        for f in (a, b):
            _check_file(path, line, s.folder, f)
            if f not in s.files:
                s.files.append(f)
        s.pairs.append(PairLabel(name, a, b, p, pr.get("caption"), line))
    if not series:
        raise DatasetError(path, None, "no labelled series")
    return FineDataset(path, root, list(series.values()), kind, long_side)


def load_fine(path: str | Path, root: str | Path | None = None, *, long_side: int | None = 512) -> FineDataset:
    """Load a fine-grained series dataset from its label file (``.csv`` or ``.json``).

    ``root`` (default: the label file's folder) holds one folder per series.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, None, "label file not found")
    root = Path(root) if root is not None else path.parent
    if path.suffix.lower() == ".json":
        return _fine_from_json(path, root, long_side)
    return _fine_from_csv(path, root, long_side)


# ------------------------------------------------------------------------------------------
# Coarse scores


def load_coarse(path: str | Path, root: str | Path | None = None, *, long_side: int | None = 512,
                check_files: bool = True) -> CoarseDataset:
    """Load ``path,mos`` or ``path,v1,...,v10`` (image paths relative to ``root`` or the CSV's folder)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, None, "label file not found")
    root = Path(root) if root is not None else path.parent
    header, hl, rows = _read_csv(path)
    votes_header = ["path"] + [f"v{i}" for i in range(1, NUM_BINS + 1)]
    if header == ["path", "mos"]:
        hist_mode = False
    elif header == votes_header:
        hist_mode = True
    else:
        raise DatasetError(path, hl, "unknown header " + ",".join(header) +
                           "; expected path,mos or path,v1,...,v10 (a 10-bin vote histogram)")
    items = []
    for line, cells in rows:
        cells = _cells(path, line, cells, len(header), header)
        rel = cells[0]
        if not rel:
            raise DatasetError(path, line, "empty path")
        p = root / rel
        if check_files and not p.is_file():
            raise DatasetError(path, line, f"{p} does not exist")
        if hist_mode:
            v = np.array([_number(path, line, header[i + 1], c) for i, c in enumerate(cells[1:])], np.float64)
            if (v < 0).any():
                raise DatasetError(path, line, "vote counts must be >= 0")
            if v.sum() <= 0:
                raise DatasetError(path, line, "the vote histogram is empty (all counts are 0)")
            hist = (v / v.sum()).astype(np.float32)
            mos = float((hist * np.arange(1, NUM_BINS + 1)).sum())
        else:
            mos = _number(path, line, "mos", cells[1])
            if not 1.0 <= mos <= 10.0:
                raise DatasetError(path, line, f"mos must be on the 1..10 scale, got {cells[1]}")
            hist = None
        items.append(CoarseItem(p, mos, hist, line))
    if not items:
        raise DatasetError(path, None, "no rows after the header")
    return CoarseDataset(path, items, long_side)


# ------------------------------------------------------------------------------------------
# Any dataset


def _sniff_csv_header(path: Path) -> list[str]:
    return _read_csv(path)[0]


def load_dataset(spec: str | Path, *, long_side: int | None = 512, edit_pairs: int = 500,
                 seed: int = 1234) -> FineDataset | CoarseDataset | EditPairDataset:
    """A dataset from a label file, a folder holding one, or ``edits:FOLDER`` (edit pairs).

    A folder is searched for ``labels.csv``, ``labels.json``, ``pairs.csv``, ``ranking.csv``,
    ``scores.csv``, ``series.json`` (in that order). A CSV whose header starts with ``path``
    is coarse; anything else is fine-grained.
    """
    s = str(spec)
    if s.startswith("edits:"):
        return EditPairDataset.from_folder(s[len("edits:"):], n=edit_pairs, seed=seed, long_side=long_side or 512)
    path = Path(s)
    if path.is_dir():
        for name in LABEL_NAMES:
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise DatasetError(path, None, "no label file found (looked for " + ", ".join(LABEL_NAMES) +
                               "); use edits:FOLDER for edit pairs made from a folder of photos")
    if not path.is_file():
        raise DatasetError(path, None, "label file not found")
    if path.suffix.lower() == ".csv" and _sniff_csv_header(path)[:1] == ["path"]:
        return load_coarse(path, long_side=long_side)
    return load_fine(path, long_side=long_side)
