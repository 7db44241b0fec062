"""photocull: cull a photo shoot — series, scores, picks and star ratings.

Kept import-light on purpose: decode workers import this package and must not pay
for torch or open_clip.
"""

__version__ = "0.1.0"
