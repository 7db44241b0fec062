"""`--weights FILE` takes the official checkpoint as it is: converted once, cached by content."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from tests.model import official_fixture as fx


@pytest.fixture
def official_pt(tmp_path):
    p = tmp_path / "FGAesQ.pt"
    torch.save(fx.official_state_dict(5, layers=1, width=64), p)
    return p


def test_official_pt_is_converted_once_and_found_again_by_content(official_pt, tmp_path):
    from photocull.model.weights import load_fgaesq_model, load_fgaesq_weights

    cache = tmp_path / "cache"
    first = load_fgaesq_weights(official_pt, cache)
    assert first.parent == cache and first.suffix == ".safetensors"
    stamp = first.stat().st_mtime_ns
    renamed = tmp_path / "copy.bin"
    renamed.write_bytes(official_pt.read_bytes())
    assert load_fgaesq_weights(renamed, cache) == first  # same content, same cache entry
    assert first.stat().st_mtime_ns == stamp  # not converted again
    model, convention = load_fgaesq_model(official_pt, cache)
    assert convention == "official"
    state = fx.official_state_dict(5, layers=1, width=64)
    assert torch.equal(model.tower.scale_embedding, state["scale_embedding"])  # rows unchanged
    assert torch.equal(model.iqa_head[6].weight, state["iqa_head.6.weight"])
    # a different checkpoint gets its own entry
    other = tmp_path / "other.pt"
    torch.save(fx.official_state_dict(6, layers=1, width=64), other)
    assert load_fgaesq_weights(other, cache) != first


def test_photocull_safetensors_is_used_directly(official_pt, tmp_path):
    from photocull.model.weights import load_fgaesq_weights

    sf = load_fgaesq_weights(official_pt, tmp_path / "cache")
    assert load_fgaesq_weights(sf, tmp_path / "cache2") == sf
    assert not (tmp_path / "cache2").exists()


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("kind", ["empty", "text", "jpeg", "random", "pickle_code", "not_a_state_dict",
                                  "wrong_model", "directory", "missing", "truncated"])
def test_anything_else_is_a_clear_user_error(kind, tmp_path, official_pt):
    from photocull.model.weights import WeightsError, load_fgaesq_weights

    p = tmp_path / f"weights-{kind}.pt"
    if kind == "empty":
        p.write_bytes(b"")
    elif kind == "text":
        p.write_text("hello, I am a README\n")
    elif kind == "jpeg":
        p.write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(2000))
    elif kind == "random":
        p.write_bytes(os.urandom(4096))
    elif kind == "pickle_code":
        p.write_bytes(pickle.dumps(_Evil()))
    elif kind == "not_a_state_dict":
        torch.save([1, 2, 3], p)
    elif kind == "wrong_model":
        torch.save({"fc.weight": torch.zeros(3, 3)}, p)
    elif kind == "directory":
        p.mkdir()
    elif kind == "truncated":
        p.write_bytes(official_pt.read_bytes()[:5000])
    with pytest.raises(WeightsError) as exc:
        load_fgaesq_weights(p, tmp_path / "cache")
    msg = str(exc.value)
    assert str(p) in msg and "Traceback" not in msg and len(msg.splitlines()) == 1
    assert not list((tmp_path / "cache").glob("*.safetensors"))


@pytest.mark.parametrize("cut", [0.5, 0.99])
def test_a_truncated_checkpoint_says_incomplete_download(official_pt, tmp_path, cut):
    """A .pt or .safetensors cut short (the end of a zip, the tensors a header promises) is an
    incomplete download, not a PyTorch error."""
    from photocull.model.weights import WeightsError, load_fgaesq_weights

    data = official_pt.read_bytes()
    sf = load_fgaesq_weights(official_pt, tmp_path / "cache")
    for src, name in ((data, "cut.pt"), (sf.read_bytes(), "cut.safetensors")):
        p = tmp_path / name
        p.write_bytes(src[: int(len(src) * cut)])
        with pytest.raises(WeightsError) as exc:
            load_fgaesq_weights(p, tmp_path / "cache2")
        msg = str(exc.value)
        assert "incomplete" in msg and "download it again" in msg.lower(), msg
        assert "PytorchStreamReader" not in msg and "zip" not in msg


def test_tensors_that_do_not_fit_are_named(tmp_path):
    from photocull.model.weights import WeightsError, load_fgaesq_weights

    sd = fx.official_state_dict(5, layers=1, width=64)
    del sd["iqa_head.0.weight"]
    sd["scale_embedding"] = torch.zeros(1, 3, 64)
    sd["extra.thing"] = torch.zeros(2)
    p = tmp_path / "odd.pt"
    torch.save(sd, p)
    with pytest.raises(WeightsError) as exc:
        load_fgaesq_weights(p, tmp_path / "cache")
    msg = str(exc.value)
    assert len(msg.splitlines()) == 1
    for part in ("missing: ", "iqa_head.0.weight", "unexpected: extra.thing", "scale_embedding 1x3x64 in the file"):
        assert part in msg, (part, msg)


def test_an_unchanged_checkpoint_is_not_hashed_again(official_pt, tmp_path, monkeypatch):
    import photocull.model.weights as W

    first = W.load_fgaesq_weights(official_pt, tmp_path / "cache")
    monkeypatch.setattr(W, "file_sha256", lambda p: (_ for _ in ()).throw(AssertionError("hashed again")))
    assert W.load_fgaesq_weights(official_pt, tmp_path / "cache") == first
    monkeypatch.undo()
    torch.save(fx.official_state_dict(6, layers=1, width=64), official_pt)  # replaced: new identity
    assert W.load_fgaesq_weights(official_pt, tmp_path / "cache") != first
