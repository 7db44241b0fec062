"""The review page's screenshots in docs/, made in headless Chromium from real culls:

    python -m benchmarks.review_screens [--out docs]

* grid, compare, survey: the bundled sample shoot culled with the technical scorer;
* face strip: eight frames of the labelled face set (tests/faces_data: the same astronaut
  portrait with eyes open and painted shut) culled with ``--faces``, so the strip shows what
  the face checks found, with their verdicts.

Nothing is written into assets/ or tests/: both are copied to a temporary folder first.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from pathlib import Path

from .review import browser

REPO = Path(__file__).resolve().parents[1]


def cull(shoot: Path, *extra: str) -> None:
    from typer.testing import CliRunner

    from photocull.cli import app

    res = CliRunner().invoke(app, ["cull", str(shoot), "-q", "--scorer", "technical", "--no-embeddings", *extra])
    assert res.exit_code in (0, 1), res.output


def faces_shoot(dst: Path) -> Path:
    """Open- and closed-eye frames of the face set, dated one second apart (one series)."""
    from PIL import Image

    dst.mkdir(parents=True)
    src = REPO / "tests" / "faces_data"
    for k, name in enumerate(["open_00", "closed_00", "open_01", "closed_01", "open_02", "closed_02"]):
        img = Image.open(src / f"{name}.jpg")
        exif = Image.Exif()
        exif[0x0132] = f"2026:06:15 12:00:{k:02d}"
        img.save(dst / f"FACE_{k + 1:02d}.JPG", quality=92, exif=exif)
    return dst


def wait(driver, script: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if driver.execute_script(script):
            return
        time.sleep(0.05)
    raise TimeoutError(script)


IMAGES_DONE = ("return Array.from(document.querySelectorAll('{sel}')).filter(i => i.offsetParent !== null)"
               ".every(i => i.complete && i.naturalWidth > 0)")


def session(shoot: Path, driver, shots: list[tuple[list[str], str, list[str], str, Path]]) -> None:
    """Serve ``shoot``, and for each shot: press keys, run a script, press keys, wait for its
    images, save it."""
    from selenium.webdriver.common.action_chains import ActionChains

    from photocull.review.server import ReviewApp, make_server

    app = ReviewApp(shoot)
    httpd = make_server(app, 0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        driver.get(app.url())
        wait(driver, "return document.body.dataset.ready === '1'")
        for before, setup, keys, images, out in shots:
            for k in before:
                ActionChains(driver).send_keys(k).perform()
            if setup:
                driver.execute_script(setup)
            for k in keys:
                ActionChains(driver).send_keys(k).perform()
            wait(driver, IMAGES_DONE.format(sel=images))
            time.sleep(0.3)  # let the last image paint before the capture
            if not driver.save_screenshot(str(out)):
                raise OSError(f"could not write {out}")
            print(f"wrote {out}")
    finally:
        httpd.shutdown()
        httpd.server_close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.review_screens", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "docs")
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pc-review-shots-") as tmp:
        shoot = Path(tmp) / "wedding-sample"
        shutil.copytree(REPO / "assets" / "sample_shoot", shoot,
                        ignore=shutil.ignore_patterns("*.xmp", ".photocull", "photocull.toml"))
        cull(shoot)
        faces = faces_shoot(Path(tmp) / "portraits")
        cull(faces, "--faces")
        driver = browser(Path(tmp) / "chrome")
        try:
            click = "document.querySelector('.frame[data-id=\"{}\"]').click()"
            session(shoot, driver, [
                (["\ue008S"], "", [], "#grid .thumb img", a.out / "review-grid.png"),  # every stack open
                ([], click.format(2), ["c"], ".cscroll img", a.out / "review-compare.png"),
                (["g"], "", ["n"], ".scell img", a.out / "review-survey.png"),
            ])
            blink = ("Array.from(document.querySelectorAll('.frame')).find(c => c.querySelector('.problems')"
                     ".textContent.includes('eyes closed')).click()")
            session(faces, driver, [
                (["\ue008S"], blink, ["e"], "#loupe-img, #faces img", a.out / "review-faces.png"),
            ])
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
