from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from photocull.train.edits import apply_edit, procedural_images


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A fine dataset (2 series of 3 frames: original, mild and strong blur) with pairs and
    captions, and a coarse dataset with vote histograms, all from procedural images."""
    root = tmp_path_factory.mktemp("data")
    imgs = procedural_images(4, 64, seed=11)
    rows = ["series,a,b,p,caption"]
    ranking = {}
    for k in range(2):
        s = root / "fine" / f"s{k}"
        s.mkdir(parents=True)
        frames = [imgs[k], apply_edit(imgs[k], "defocus", 0.4, k), apply_edit(imgs[k], "defocus", 1.0, k)]
        for i, f in enumerate(frames):
            Image.fromarray(f).save(s / f"{i}.png")
        rows += [f"s{k},0.png,1.png,0.9,the sharper photo", f"s{k},1.png,2.png,0.8,the sharper photo",
                 f"s{k},2.png,0.png,0.05,"]
        ranking[f"s{k}"] = ["0.png", "1.png", "2.png"]
    (root / "fine" / "labels.csv").write_text("\n".join(rows) + "\n")
    (root / "coarse").mkdir()
    vrows = ["path," + ",".join(f"v{i}" for i in range(1, 11))]
    for i, im in enumerate(imgs):
        Image.fromarray(im).save(root / "coarse" / f"{i}.png")
        votes = np.zeros(10, int)
        votes[3 + i] = 3
        votes[4 + i] = 1
        vrows.append(f"{i}.png," + ",".join(map(str, votes)))
    (root / "coarse" / "votes.csv").write_text("\n".join(vrows) + "\n")
    return root, imgs, ranking
