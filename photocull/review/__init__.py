"""``photocull review``: a local web page to cull a shoot photocull has already scored.

The page (``static/``) lists the last run's series side by side, loads thumbnails and
full-size images one by one as they are needed, and sends each decision (stars, pick,
reject) back to the server, which writes it through the same atomic, journaled writer a
cull uses, so ``photocull undo`` reverts it.
"""

from .server import ReviewApp, serve

__all__ = ["ReviewApp", "serve"]
