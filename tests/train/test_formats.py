from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from photocull.train.datasets import (
    CoarseDataset,
    DatasetError,
    EditPairDataset,
    FineDataset,
    load_coarse,
    load_dataset,
    load_fine,
)


def _img(path, value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((16, 24, 3), value, np.uint8)).save(path)


@pytest.fixture
def series_root(tmp_path):
    for s in ("beach", "dog"):
        for i in range(3):
            _img(tmp_path / s / f"{i}.jpg", 40 * i)
    return tmp_path


def _err(exc_info, path, line):
    msg = str(exc_info.value)
    assert msg.startswith(f"{path}:{line}: "), msg
    assert exc_info.value.line == line
    return msg


def test_pairs_csv(series_root):
    f = series_root / "labels.csv"
    f.write_text("series,a,b,p\nbeach,0.jpg,1.jpg,0.8\nbeach,1.jpg,2.jpg,0.4\n\ndog,2.jpg,0.jpg,1\n")
    ds = load_fine(f)
    assert isinstance(ds, FineDataset) and ds.kind == "pairs" and len(ds) == 2
    beach = ds.series[0]
    assert beach.files == ["0.jpg", "1.jpg", "2.jpg"] and beach.pairs[1].p == 0.4 and beach.pairs[1].line == 3
    assert ds.series[1].pairs[0].line == 5
    assert ds.image("dog", "2.jpg").shape == (16, 24, 3)
    assert beach.best() == {"0.jpg"}
    assert len(ds.pairs()) == 3


def test_pairs_csv_with_captions(series_root):
    f = series_root / "labels.csv"
    f.write_text("series,a,b,p,caption\nbeach,0.jpg,1.jpg,0.8,the sharper photo\nbeach,1.jpg,2.jpg,0.4\n")
    ds = load_fine(f)
    assert [p.caption for p in ds.pairs()] == ["the sharper photo", None]


def test_ranking_csv_and_json(series_root):
    f = series_root / "ranking.csv"
    f.write_text("series,rank,file\ndog,2,0.jpg\ndog,1,2.jpg\ndog,3,1.jpg\n")
    ds = load_fine(f)
    assert ds.kind == "ranking" and ds.series[0].ranking == ["2.jpg", "0.jpg", "1.jpg"]
    assert [(p.a, p.b, p.p) for p in ds.pairs()] == [("2.jpg", "0.jpg", 1.0), ("2.jpg", "1.jpg", 1.0), ("0.jpg", "1.jpg", 1.0)]
    j = series_root / "labels.json"
    j.write_text(json.dumps({"series": {"beach": ["1.jpg", "0.jpg", "2.jpg"]}}, indent=1))
    dj = load_dataset(series_root)  # the folder: labels.csv is absent, labels.json is found
    assert isinstance(dj, FineDataset) and dj.series[0].ranking == ["1.jpg", "0.jpg", "2.jpg"]


@pytest.mark.parametrize("rows,line,pattern", [
    ("beach,0.jpg,1.jpg,1.5\n", 2, r"p = P\(a > b\) must be in \[0, 1\], got 1.5"),
    ("beach,0.jpg,1.jpg,0.5\nbeach,0.jpg,9.jpg,0.5\n", 3, r"9.jpg does not exist"),
    ("beach,0.jpg,1.jpg,high\n", 2, r"p must be a number, got 'high'"),
    ("cat,0.jpg,1.jpg,0.5\n", 2, r"series folder .*cat does not exist"),
    ("beach,0.jpg,0.jpg,0.5\n", 2, r"same frame"),
    ("beach,0.jpg,1.jpg\n", 2, r"expected 4 columns"),
])
def test_pairs_csv_errors_name_file_and_line(series_root, rows, line, pattern):
    f = series_root / "labels.csv"
    f.write_text("series,a,b,p\n" + rows)
    with pytest.raises(DatasetError) as ei:
        load_fine(f)
    assert re.search(pattern, _err(ei, f, line))


def test_header_and_ranking_errors(series_root):
    f = series_root / "labels.csv"
    f.write_text("# comment\nseries,x,y\n")
    with pytest.raises(DatasetError) as ei:
        load_fine(f)
    assert "unknown header" in _err(ei, f, 2)
    f.write_text("series,rank,file\nbeach,1,0.jpg\nbeach,1,1.jpg\n")
    with pytest.raises(DatasetError) as ei:
        load_fine(f)
    assert "already has rank 1 (line 2)" in _err(ei, f, 3)
    f.write_text("series,rank,file\nbeach,1.5,0.jpg\n")
    with pytest.raises(DatasetError) as ei:
        load_fine(f)
    assert "whole number" in _err(ei, f, 2)


def test_json_errors_name_the_line(series_root):
    j = series_root / "labels.json"
    j.write_text('{\n "series": {\n  "beach": ["0.jpg",\n   "7.jpg"]\n }\n}\n')
    with pytest.raises(DatasetError) as ei:
        load_fine(j)
    assert "7.jpg does not exist" in _err(ei, j, 4)
    j.write_text('{\n "series": {\n  "beach": ["0.jpg",, ]\n }\n}\n')
    with pytest.raises(DatasetError) as ei:
        load_fine(j)
    assert "invalid JSON" in _err(ei, j, 3)
    j.write_text('{\n "pairs": [\n  {"series": "dog", "a": "0.jpg", "b": "1.jpg", "p": 2}\n ]\n}\n')
    with pytest.raises(DatasetError) as ei:
        load_fine(j)
    assert "must be in [0, 1]" in _err(ei, j, 3)


def test_coarse_mos_and_votes(tmp_path):
    _img(tmp_path / "img" / "a.jpg")
    _img(tmp_path / "img" / "b.jpg")
    f = tmp_path / "scores.csv"
    f.write_text("path,mos\nimg/a.jpg,5.5\nimg/b.jpg,7\n")
    ds = load_dataset(f)
    assert isinstance(ds, CoarseDataset) and [it.mos for it in ds.items] == [5.5, 7.0] and not ds.has_hist
    v = tmp_path / "votes.csv"
    v.write_text("path," + ",".join(f"v{i}" for i in range(1, 11)) + "\n"
                 "img/a.jpg,0,0,0,0,1,1,0,0,0,0\nimg/b.jpg,0,0,0,0,0,0,0,0,0,4\n")
    dv = load_coarse(v)
    assert dv.has_hist and dv.items[0].mos == pytest.approx(5.5) and dv.items[1].mos == pytest.approx(10)
    np.testing.assert_allclose(dv.items[0].hist[4:6], [0.5, 0.5])
    assert dv.image(0).shape == (16, 24, 3)


@pytest.mark.parametrize("text,line,pattern", [
    ("path,mos\nimg/a.jpg,11\n", 2, "1..10 scale"),
    ("path,mos\nimg/a.jpg,5\nimg/zz.jpg,5\n", 3, "zz.jpg does not exist"),
    ("path,mos\nimg/a.jpg,\n", 2, "mos must be a number"),
    ("path,score\nimg/a.jpg,5\n", 1, "unknown header"),
    ("path," + ",".join(f"v{i}" for i in range(1, 11)) + "\nimg/a.jpg,0,0,0,0,0,0,0,0,0,0\n", 2, "histogram is empty"),
    ("path," + ",".join(f"v{i}" for i in range(1, 11)) + "\nimg/a.jpg,0,0,-1,0,0,0,0,0,0,3\n", 2, ">= 0"),
])
def test_coarse_errors_name_file_and_line(tmp_path, text, line, pattern):
    _img(tmp_path / "img" / "a.jpg")
    f = tmp_path / "scores.csv"
    f.write_text(text)
    with pytest.raises(DatasetError) as ei:
        load_coarse(f)
    assert pattern in _err(ei, f, line)


def test_edit_pair_dataset_and_missing_labels(tmp_path):
    for i in range(2):
        _img(tmp_path / "photos" / f"{i}.png", 60 + 50 * i)
    ds = load_dataset(f"edits:{tmp_path / 'photos'}", edit_pairs=5)
    assert isinstance(ds, EditPairDataset) and len(ds) == 5 and len(list(ds)) == 5
    with pytest.raises(DatasetError, match="no label file found"):
        load_dataset(tmp_path / "photos")
