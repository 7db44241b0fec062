"""Group frames into near-duplicate series from capture time, hashes and embeddings.

How: frames are visited in capture order; each joins the most similar *open* series
(one whose last frame is at most ``max_gap`` seconds earlier) when its average
distance to that series' recent members is small and no single member is far off,
else it starts a new series. That is average linkage with a complete-linkage cap, in
a sliding time window: it cannot chain a slowly drifting scene across a long shoot
the way bare connected components do, it keeps interleaved bursts apart (two bodies,
or a photographer alternating subjects), and it costs O(n * open series), never O(n^2)
over a whole shoot.

Distances are scaled so that 1.0 is the threshold: a hash distance of
``hash_threshold`` bits, or an embedding cosine similarity of ``embed_threshold``.
Hashes are precise but miss frames that moved, zoomed or changed exposure; embeddings
catch those. Either one calling two frames near-duplicates is enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .hashing import hamming_matrix, hash_bits
from .records import Series


@dataclass(frozen=True)
class GroupOptions:
    max_gap: float = 20.0  # seconds: a longer pause always ends a series
    hash_threshold: float = 20.0  # mean of pHash and dHash Hamming distances (of 64 bits) for "same shot"
    embed_threshold: float = 0.90  # cosine similarity of image embeddings for "same shot"
    cap: float = 1.6  # no member may be farther than cap x threshold (complete-linkage cap)
    recent: int = 12  # compare with this many most recent members of a series
    max_open: int = 64  # series still open at once (bounds the work on frames without time)


def frame_distances(
    phash: np.ndarray, dhash: np.ndarray, emb: np.ndarray | None, i: int, js: np.ndarray, opts: GroupOptions
) -> np.ndarray:
    """Scaled distances (1.0 = threshold) from frame i to frames js."""
    d_hash = (
        hamming_matrix(phash[i : i + 1], phash[js])[0] + hamming_matrix(dhash[i : i + 1], dhash[js])[0]
    ) / (2.0 * opts.hash_threshold)
    if emb is None:
        return d_hash
    cos = emb[js] @ emb[i]
    d_emb = (1.0 - cos) / max(1.0 - opts.embed_threshold, 1e-6)
    return np.minimum(d_hash, d_emb)


def group_frames(
    times: Sequence[float],
    phashes: Sequence[str],
    dhashes: Sequence[str],
    embeddings: np.ndarray | None = None,
    opts: GroupOptions = GroupOptions(),
) -> list[Series]:
    """Series (lists of frame indices in capture order), numbered in capture order.

    ``embeddings`` is an optional (N, D) matrix of L2-normalised rows; frames without an
    embedding may carry a zero row (they then rely on hashes alone).
    """
    n = len(times)
    if n == 0:
        return []
    t = np.asarray(times, dtype=np.float64)
    order = np.lexsort((np.arange(n), t))
    ph, dh = hash_bits(list(phashes)), hash_bits(list(dhashes))
    emb = None if embeddings is None else np.asarray(embeddings, dtype=np.float32)
    members: list[list[int]] = []
    last_time: list[float] = []
    open_ids: list[int] = []
    for i in order:
        open_ids = [s for s in open_ids if t[i] - last_time[s] <= opts.max_gap][-opts.max_open :]
        best, best_d = -1, float("inf")
        for s in open_ids:
            recent = np.asarray(members[s][-opts.recent :])
            d = frame_distances(ph, dh, emb, int(i), recent, opts)
            if d.max() <= opts.cap and d.mean() <= 1.0 and d.mean() < best_d:
                best, best_d = s, float(d.mean())
        if best < 0:
            members.append([int(i)])
            last_time.append(float(t[i]))
            open_ids.append(len(members) - 1)
        else:
            members[best].append(int(i))
            last_time[best] = float(t[i])
    members.sort(key=lambda m: (t[m[0]], m[0]))
    return [Series(k, m) for k, m in enumerate(members)]
