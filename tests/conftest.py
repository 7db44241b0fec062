"""Shared fixtures: every image is generated here or copied from assets/ (hermetic)."""

from __future__ import annotations

import io
import shutil
from datetime import datetime
from pathlib import Path

import json

import numpy as np
import piexif
import pytest
from PIL import Image, ImageFilter

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "assets" / "sample_shoot"
TRUTH = REPO / "assets" / "sample_shoot_truth.json"


@pytest.fixture(autouse=True)
def private_user_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own user cache folder: dry runs and --user-cache keep their cache
    there, and no test may see another's (or the machine user's) cached decodes."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


def scene(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A synthetic photo: a gradient sky, textured ground and sharp-edged shapes."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = rng.uniform(40, 200, 3)
    img = np.empty((h, w, 3), np.float32)
    for c in range(3):
        img[..., c] = base[c] * (0.6 + 0.4 * y / h) + 25 * np.sin(x / rng.uniform(8, 30) + c)
    for _ in range(12):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(10, 80)
        mask = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        img[mask] = rng.uniform(0, 255, 3)
    img += rng.normal(0, 2.0, img.shape)  # sensor grain
    return Image.fromarray(img.clip(0, 255).astype(np.uint8))


def shifted(img: Image.Image, dx: int, dy: int) -> Image.Image:
    return Image.fromarray(np.roll(np.asarray(img), (dy, dx), axis=(0, 1)))


def blurred(img: Image.Image, sigma: float = 3.0) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(sigma))


def noisy(img: Image.Image, sigma: float = 20.0, seed: int = 0) -> Image.Image:
    a = np.asarray(img).astype(np.float32) + np.random.default_rng(seed).normal(0, sigma, (img.height, img.width, 1))
    return Image.fromarray(a.clip(0, 255).astype(np.uint8))


def exposed(img: Image.Image, ev: float) -> Image.Image:
    a = np.asarray(img).astype(np.float32) / 255.0
    return Image.fromarray((((a**2.2) * 2**ev) ** (1 / 2.2) * 255).clip(0, 255).astype(np.uint8))


def exif_bytes(when: datetime | None, subsec: int = 0, orientation: int = 1, make: str = "TestCam", model: str = "T1") -> bytes:
    zeroth = {piexif.ImageIFD.Make: make.encode(), piexif.ImageIFD.Model: model.encode(), piexif.ImageIFD.Orientation: orientation}
    exif: dict = {}
    if when is not None:
        stamp = when.strftime("%Y:%m:%d %H:%M:%S").encode()
        exif = {piexif.ExifIFD.DateTimeOriginal: stamp, piexif.ExifIFD.SubSecTimeOriginal: f"{subsec:03d}".encode()}
    return piexif.dump({"0th": zeroth, "Exif": exif})


def save_jpeg(path: Path, img: Image.Image, when: datetime | None = None, subsec: int = 0, orientation: int = 1, quality: int = 92) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {"quality": quality}
    if when is not None or orientation != 1:
        kwargs["exif"] = exif_bytes(when, subsec, orientation)
    img.save(path, "JPEG", **kwargs)
    return path


def jpeg_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", **kw)
    return buf.getvalue()


def scan_data(source: Path | bytes) -> bytes:
    """Everything from the first SOS marker on: the compressed pixel data."""
    data = source if isinstance(source, bytes) else source.read_bytes()
    i = 2
    while i < len(data):
        marker = data[i + 1]
        if marker == 0xDA:
            return data[i:]
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        i += 2 + length
    raise AssertionError(f"no SOS in {source if isinstance(source, Path) else 'the bytes given'}")


def pristine_sample(dst: Path) -> Path:
    """Copy the bundled sample shoot to ``dst``, unrated (tests never write into assets/).

    The README's first command rates assets/sample_shoot in place; its journal travels with
    the copy, and undo on the copy gives back the pristine files (a rating left there would be
    the photographer's to a later cull, and kept).
    """
    from photocull.metadata.undo import undo

    shutil.copytree(SAMPLE, dst, ignore=shutil.ignore_patterns("*.xmp", "cache.sqlite*", "last_run*.json", "photocull.toml",
                                                               "*.lock"))
    if (dst / ".photocull").exists():
        failed = [o for o in undo(dst) if o.status == "skipped"]
        assert not failed, [o.message for o in failed]
        shutil.rmtree(dst / ".photocull")
    return dst


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    """A private, unrated copy of the bundled sample shoot."""
    return pristine_sample(tmp_path / "shoot")


@pytest.fixture
def burst_shoot(tmp_path: Path) -> Path:
    """Two bursts 40 s apart plus a single; frame 2 of burst A and frame 1 of burst B are the clean ones."""
    root = tmp_path / "burst"
    t0 = datetime(2026, 5, 1, 9, 0, 0)
    a, b, c = scene(1), scene(2), scene(3)
    frames = [
        ("A1.jpg", blurred(shifted(a, 3, 1)), 0),
        ("A2.jpg", shifted(a, 1, 2), 1),
        ("A3.jpg", noisy(shifted(a, -2, 0)), 2),
        ("A4.jpg", exposed(shifted(a, 0, -3), 2.0), 3),
        ("B1.jpg", b, 40),
        ("B2.jpg", blurred(shifted(b, 2, 2), 4.0), 41),
        ("C1.jpg", c, 200),
    ]
    for name, img, sec in frames:
        save_jpeg(root / name, img, t0.replace(second=0) if sec == 0 else datetime.fromtimestamp(t0.timestamp() + sec), subsec=0)
    return root


# --- a tiny randomly initialised open_clip model (no download, ~30 ms to build) ---
from photocull.compat import import_open_clip  # noqa: E402

TINY = "photocull-test-tiny-clip"
TINY_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


@pytest.fixture(scope="session")
def tiny_name(tmp_path_factory) -> str:
    d = tmp_path_factory.mktemp("oc_cfg")
    path = d / f"{TINY}.json"
    path.write_text(json.dumps(TINY_CFG))
    import_open_clip().add_model_config(path)
    return TINY


@pytest.fixture(scope="session")
def tiny_weights(tiny_name, tmp_path_factory):
    """A random tiny model and its weights saved as .safetensors (and .pt)."""
    from safetensors.torch import save_file

    torch = pytest.importorskip("torch")
    torch.manual_seed(1234)
    model = import_open_clip().create_model(tiny_name, pretrained=None)
    model.eval()
    d = tmp_path_factory.mktemp("weights")
    sd = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    st = d / "tiny.safetensors"
    save_file(sd, str(st))
    pt = d / "tiny.pt"
    torch.save(sd, pt)
    return model, st, pt




@pytest.fixture(autouse=True)
def _own_state_dir(tmp_path_factory, monkeypatch):
    """The journal's signing key (paths.user_state_dir) goes to a temp folder, never ~/.local/state."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture
def official_pt(tmp_path, monkeypatch) -> Path:
    """A small random FGAesQ checkpoint in the official layout (``torch.save`` of its state
    dict), with conversions kept in this test's own model folder."""
    torch = pytest.importorskip("torch")
    from tests.model import official_fixture as fx

    monkeypatch.setenv("PHOTOCULL_MODEL_DIR", str(tmp_path / "models"))  # conversions land here
    p = tmp_path / "FGAesQ.pt"
    torch.save(fx.official_state_dict(3, layers=1, width=64), p)
    return p
