"""Imported by the decode workers' parent before they fork (``stages.worker_modules``).

Why a module: the executor preloads modules, not calls. Importing this loads OpenCV's
cascades and the face detector once in the parent (or forkserver), so every worker starts
with them instead of each spending ~0.15 s loading its own. Never fails: without OpenCV,
face checks report why at their first use, as they would have.
"""

from .faces import available

available()  # loads (and caches) the models, or the reason they cannot load
