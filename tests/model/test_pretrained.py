"""One weights table and one default backbone (photocull.pretrained): every other place reads them."""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from photocull import pretrained
from photocull.pretrained import DEFAULT_BACKBONE, WEIGHTS

from .test_hub import hub, no_network  # noqa: F401 (fixtures: the local fake hub, no network)

REPO = Path(__file__).resolve().parents[2]


def _code_strings(path: Path) -> list[tuple[int, str]]:
    """String constants of a module's code (docstrings left out: they may name things)."""
    tree = ast.parse(path.read_text())
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs]


def test_the_default_backbone_and_the_weights_are_spelled_only_in_the_table() -> None:
    spelled = {w.model for w in WEIGHTS.values()} | {w.tag for w in WEIGHTS.values()} | {w.repo_id for w in WEIGHTS.values()}
    spelled -= {None}
    found = []
    for path in sorted([*(REPO / "photocull").rglob("*.py"), *(REPO / "benchmarks").glob("*.py")]):
        if path == REPO / "photocull" / "pretrained.py":
            continue
        found += [f"{path.relative_to(REPO)}:{line}: {s!r}" for line, s in _code_strings(path) if s in spelled]
    assert found == []


def test_the_backbone_registry_and_downloads_are_the_table() -> None:
    from photocull.backbones import BACKBONES, DEFAULT_MODEL, DEFAULT_PRETRAINED, BackboneSpec

    assert {n: (k.spec.model, k.spec.pretrained, k.hub_repo) for n, k in BACKBONES.items()} == {
        w.name: (w.model, w.tag, w.repo_id) for w in WEIGHTS.values() if w.backbone}
    assert (DEFAULT_MODEL, DEFAULT_PRETRAINED) == (WEIGHTS[DEFAULT_BACKBONE].model, WEIGHTS[DEFAULT_BACKBONE].tag)
    assert BackboneSpec() == BackboneSpec(DEFAULT_MODEL, DEFAULT_PRETRAINED)
    assert pretrained.download_entry("clip") is WEIGHTS[DEFAULT_BACKBONE]
    assert pretrained.download_entry("fgaesq") is WEIGHTS["fgaesq"] and pretrained.download_entry("nope") is None
    assert pretrained.download_name(DEFAULT_MODEL, DEFAULT_PRETRAINED) == "clip"
    assert pretrained.download_name("ViT-B-32", "laion2b_s34b_b79k") is None


_PROBE = r"""
import inspect, json, sys
import photocull.pretrained as p
p.DEFAULT_BACKBONE = sys.argv[1]  # the one place, changed before anything reads it
from typer.testing import CliRunner
from photocull.cli import app
from photocull.backbones import BackboneSpec, spec_from_options
from photocull.backbones.weights import Resolution, unavailable_message
from photocull.model.hub import plan_download
from photocull.train.adapters import make_scorer_fn
from photocull.train.losses import clip_text_encoder
spec, implicit = spec_from_options(None, None)
out = {
    "spec": [spec.model, spec.pretrained], "implicit": implicit, "BackboneSpec": BackboneSpec().model,
    "list": CliRunner().invoke(app, ["models", "list"]).output,
    "download_help": CliRunner().invoke(app, ["models", "download", "--help"], terminal_width=400).output,
    "cull_help": CliRunner().invoke(app, ["cull", "--help"], terminal_width=400).output,
    "adapter": inspect.signature(make_scorer_fn).parameters["clip_model"].default,
    "text": inspect.signature(clip_text_encoder).parameters["model"].default,
    "message": unavailable_message(spec, Resolution(None, ["nowhere"])),
    "clip": p.download_entry("clip").repo_id,
}
print(json.dumps(out))
"""


def test_changing_the_default_in_the_table_changes_every_default(tmp_path: Path) -> None:
    """A fresh interpreter with ``DEFAULT_BACKBONE`` changed in pretrained.py alone: the CLI's
    --model default, ``models list`` / ``download clip``, the trainer's and the message follow."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "c"),
           "HF_HUB_CACHE": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "COLUMNS": "400"}
    res = subprocess.run([sys.executable, "-c", _PROBE, "ViT-B-32"], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=300)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["spec"] == ["ViT-B-32", "openai"] and got["implicit"] is True and got["BackboneSpec"] == "ViT-B-32"
    assert "CLIP ViT-B-32 / openai" in got["list"]
    assert "ViT-B-32 'openai' weights" in " ".join(got["download_help"].split())
    assert "default ViT-B-32" in " ".join(got["cull_help"].split())
    assert got["adapter"] == got["text"] == "ViT-B-32"
    assert "photocull models download clip" in got["message"]
    assert got["clip"] == WEIGHTS["ViT-B-32"].repo_id


def test_models_download_clip_fetches_the_table_entry_and_its_pins(hub, monkeypatch) -> None:  # noqa: F811
    from photocull.model.hub import DownloadError, download, plan_download

    w = WEIGHTS[DEFAULT_BACKBONE]
    blob = b"weights of the default backbone" * 50
    hub.files[w.repo_id] = {w.filenames[0]: blob, "open_clip_config.json": b"{}"}
    sha = hashlib.sha256(blob).hexdigest()
    monkeypatch.setitem(WEIGHTS, DEFAULT_BACKBONE, dataclasses.replace(w, sha256="0" * 64))
    with pytest.raises(DownloadError, match="not the file photocull knows"):
        plan_download("clip")
    monkeypatch.setitem(WEIGHTS, DEFAULT_BACKBONE, dataclasses.replace(w, size=len(blob) + 1))
    with pytest.raises(DownloadError, match="not the"):
        plan_download("clip")
    monkeypatch.setitem(WEIGHTS, DEFAULT_BACKBONE, dataclasses.replace(w, sha256=sha, size=len(blob)))
    path = download("clip", progress=False)
    assert path.read_bytes() == blob and w.repo_id.replace("/", "--") in str(path)
