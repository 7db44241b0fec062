"""Perceptual hashes: cheap, exposure-tolerant fingerprints for near-duplicate search.

pHash (DCT) survives blur, noise and small exposure changes; dHash (gradients) adds a
second, partly independent opinion. Both are computed on a small copy of the working
image (>= HASH_SOURCE_PX on the short side): within a few bits of the full image's, at
~1 ms instead of ~50.
"""

from __future__ import annotations

from dataclasses import dataclass

import imagehash
import numpy as np
from PIL import Image

HASH_BITS = 64
# The hashes read 32 x 32 and 9 x 8 pixels; Lanczos from >= 128 px instead of >= 256 px
# halves their cost (2.2 -> 1.1 ms a frame) and moves at most 2-3 of 64 bits (median 0,
# 43 frames), far inside the grouping threshold (20 bits).
HASH_SOURCE_PX = 128


@dataclass(frozen=True)
class Hashes:
    phash: str
    dhash: str


def _dct_matrix(n: int) -> np.ndarray:
    """Unnormalised DCT-II as a matrix: scipy.fftpack.dct(x) == _dct_matrix(len(x)) @ x."""
    k = np.arange(n)[:, None]
    return 2.0 * np.cos(np.pi * k * (2 * np.arange(n)[None, :] + 1) / (2 * n))


_DCT32 = _dct_matrix(32)


def phash(gray: Image.Image) -> imagehash.ImageHash:
    """imagehash's pHash, bit for bit, with the 32x32 DCT as two matrix products.

    Why not ``imagehash.phash``: it imports scipy for the DCT, ~0.3 s in every decode
    worker's start-up, for a transform that is two 32x32 matrix products.
    """
    pixels = np.asarray(gray.resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    low = (_DCT32 @ pixels @ _DCT32.T)[:8, :8]
    return imagehash.ImageHash(low > np.median(low))


def perceptual_hashes(img: Image.Image) -> Hashes:
    """pHash and dHash (64 bits each) of an RGB image, as imagehash hex strings."""
    small = img if img.mode == "L" else img.convert("L")
    if min(small.size) > HASH_SOURCE_PX:
        small = small.reduce(max(1, min(small.size) // HASH_SOURCE_PX))
    return Hashes(str(phash(small)), str(imagehash.dhash(small)))


def hash_bits(hex_hashes: list[str]) -> np.ndarray:
    """(N, bits) boolean matrix from imagehash hex strings, for vectorised Hamming distances."""
    if not hex_hashes:
        return np.zeros((0, HASH_BITS), dtype=bool)
    return np.stack([imagehash.hex_to_hash(h).hash.reshape(-1) for h in hex_hashes])


def hamming_matrix(bits: np.ndarray, other: np.ndarray | None = None) -> np.ndarray:
    """Pairwise Hamming distances (int) between rows of two bit matrices."""
    other = bits if other is None else other
    a = bits.astype(np.int16)
    b = other.astype(np.int16)
    return (a @ (1 - b).T + (1 - a) @ b.T).astype(np.int32)
