"""The interface every scorer implements, and the registry that names them.

A scorer sees whole series, not single frames: telling which of five nearly identical
frames is best is a comparison, and exposure or sharpness only mean something next to
the frame's own series mates.

Scorers are registered by name in the manner of timm's ``register_model``: a module
decorates its factory with :func:`register_scorer`, and :func:`create_scorer` builds one
by name for the CLI, training's evaluation and the benchmarks alike. Adding a scorer is
one module plus one registry line; ``--scorer`` offers every registered name. The policy
of ``--scorer auto`` (which scorer, and what to tell the user) is :func:`resolve_auto`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from ..records import Analysis, FrameScore, Series
from ..registry import register_in


class Scorer(Protocol):
    """What the pipeline asks of a scorer: every attribute below is read as it is, never probed.
    Subclass :class:`ScorerDefaults` to get the defaults of the ones a scorer does not use."""

    name: str  # what --scorer selects
    needs_images: bool  # keep the decoded working image for score()
    needs_embeddings: bool  # needs CLIP image embeddings (create_scorer refuses without a backbone)
    # score() also takes ``sources=[(path, format), ...]`` aligned with the analyses, to decode
    # the files itself (FGAesQ scores the full-resolution image).
    needs_sources: bool
    # Set when the scores are worth keeping: the same key, the same series members and the same
    # frames give the same scores, so a warm run reads them from the cache and the scorer (and
    # its model) is never used. Include the scorer's version, weights and settings in it
    # (photocull.cache.scores_key). None: scores are not kept.
    cache_key: str | None

    def score(
        self, series: Sequence[Series], analyses: Sequence[Analysis], progress: Callable[[int], None] | None = None
    ) -> list[FrameScore]:
        """One FrameScore per analysis (same order); 0..10, higher is better. Only the frames
        of ``series`` need scores (the pipeline may pass a subset of the series).

        Slow (model) scorers call ``progress(n)`` as n more frames are scored.
        """
        ...


class ScorerDefaults:
    """The defaults of the :class:`Scorer` protocol's capabilities: a scorer subclasses this and
    sets what it needs (as open_clip's and timm's model classes get theirs from a base)."""

    needs_images: bool = False
    needs_embeddings: bool = False
    needs_sources: bool = False
    cache_key: str | None = None


DECLARED = ("name", "needs_images", "needs_embeddings", "needs_sources", "cache_key")


def thresholds_hash(thresholds: Any) -> str:
    """A short digest of a settings dataclass (the technical thresholds behind problem flags),
    for scorers' cache keys: other settings, other scores."""
    import dataclasses
    import hashlib

    items = sorted(dataclasses.asdict(thresholds).items()) if dataclasses.is_dataclass(thresholds) else thresholds
    return hashlib.sha256(repr(items).encode()).hexdigest()[:8]


class ScorerUnavailable(ValueError):
    """A scorer that cannot be built here (no weights, no backbone, no such device); the
    message says what to do instead."""


@dataclass(frozen=True)
class ScorerRequest:
    """Everything a factory may use; each takes what it needs and ignores the rest."""

    thresholds: Any = None  # TechnicalThresholds (problem flags); None: defaults
    backbone: Any = None  # a loaded CLIP backbone (photocull.backbones.Backbone) or None
    weights: Path | None = None  # model weights the user named
    device: str = "auto"
    exhaustive: bool | None = None  # FGAesQ series mode: True all pairs, False O(n), None auto
    seed: int = 0  # FGAesQ single-image mode: the official code's random.seed
    batch_size: int | None = None
    model: Any = None  # an already built model (benchmarks, tests) instead of weights


@dataclass(frozen=True)
class ScorerEntry:
    name: str
    factory: Callable[[ScorerRequest], Scorer]
    label: str  # how notes name it ("CLIP prompts")
    needs_embeddings: bool = False
    auto_rank: int | None = None  # ``auto`` tries higher ranks first; None: never chosen by auto
    unavailable: Callable[[ScorerRequest], str | None] | None = None  # why auto cannot use it now


_REGISTRY: dict[str, ScorerEntry] = {}


def register_scorer(
    name: str,
    *,
    label: str | None = None,
    needs_embeddings: bool = False,
    auto_rank: int | None = None,
    unavailable: Callable[[ScorerRequest], str | None] | None = None,
    replace: bool = False,
) -> Callable[[Callable[[ScorerRequest], Scorer]], Callable[[ScorerRequest], Scorer]]:
    """Decorator: register ``factory(request) -> Scorer`` under ``name`` (lower case). A name
    taken already is refused unless ``replace`` (:func:`photocull.registry.register_in`)."""
    key = name.lower()
    if key == "auto":
        raise ValueError("'auto' is not a scorer name: it means resolve_auto()")

    def decorate(factory: Callable[[ScorerRequest], Scorer]) -> Callable[[ScorerRequest], Scorer]:
        entry = ScorerEntry(key, factory, label or f"the {key} scorer", needs_embeddings, auto_rank, unavailable)
        register_in(_REGISTRY, key, entry, kind="scorer", replace=replace)
        return factory

    return decorate


def unregister_scorer(name: str) -> None:
    """Remove a registration (tests, plugins replacing a scorer)."""
    _REGISTRY.pop(name.lower(), None)


def scorer_names() -> tuple[str, ...]:
    """Registered names, in registration order (what --scorer offers besides auto)."""
    return tuple(_REGISTRY)


def scorer_entry(name: str) -> ScorerEntry:
    try:
        return _REGISTRY[name.lower()]
    except KeyError:
        raise ValueError(f"unknown scorer {name!r}; choose auto, {', '.join(_REGISTRY)}") from None


def create_scorer(name: str, **request: Any) -> Scorer:
    """The scorer registered as ``name``, built from ``request`` (see :class:`ScorerRequest`).

    Raises ValueError for an unknown name and :class:`ScorerUnavailable` when it cannot be
    built here (a scorer that needs embeddings without a backbone, missing weights, ...).
    """
    entry = scorer_entry(name)
    req = ScorerRequest(**request)
    if entry.needs_embeddings and req.backbone is None:
        raise ScorerUnavailable(
            f"--scorer {entry.name} needs a CLIP backbone: pass --model/--pretrained (and drop --no-embeddings).")
    scorer = entry.factory(req)
    missing = [a for a in DECLARED if not hasattr(scorer, a)]  # checked once here, so the pipeline never probes
    if missing:
        raise TypeError(f"the {entry.name!r} scorer lacks {', '.join(missing)} of the Scorer protocol; "
                        "subclass photocull.scorers.base.ScorerDefaults")
    return scorer


@dataclass(frozen=True)
class AutoChoice:
    name: str  # the registered scorer ``auto`` means here
    note: str | None  # why not a better one, for the user (None: the best one is here)


def resolve_auto(**request: Any) -> AutoChoice:
    """Which scorer ``--scorer auto`` means with what this machine has: the highest-ranked
    registered scorer that can be built, and a note naming what was missing for better ones."""
    req = ScorerRequest(**request)
    missing: list[str] = []
    for entry in sorted((e for e in _REGISTRY.values() if e.auto_rank is not None), key=lambda e: -e.auto_rank):
        why = entry.unavailable(req) if entry.unavailable is not None else None
        if why is None and entry.needs_embeddings and req.backbone is None:
            why = "no CLIP backbone"
        if why is None:
            if not missing:
                return AutoChoice(entry.name, None)
            return AutoChoice(entry.name, f"{' and '.join(missing)}; scoring with {entry.label} (--scorer {entry.name}). "
                                          "See 'photocull models --help'.")
        if why not in missing:
            missing.append(why)
    raise ScorerUnavailable("no scorer can run here: " + "; ".join(missing))
