"""The errors a run raises to its caller: a small hierarchy the CLI maps to one line on stderr
and an exit code (``photocull.session`` raises them; ``photocull.last_run`` raises :class:`NoRun`).
Each text says what happened and what to do; none carries a traceback to the user."""

from __future__ import annotations

__all__ = ["ModelUnavailable", "NoPhotos", "NoRun", "SessionError", "SetupError", "ShootUnavailable"]


class SessionError(Exception):
    """A run that cannot start (or whose result is no result); the text says what to do.
    The CLI prints it as one line and exits with :attr:`exit_code`."""

    exit_code = 2  # the CLI's EXIT_USAGE: nothing was done


class ShootUnavailable(SessionError):
    """Another photocull holds the shoot, or its state folder or journal cannot be used safely."""


class SetupError(SessionError):
    """An option that cannot be honoured here: an unknown scorer, ``--faces`` without OpenCV,
    an engine that cannot be reached."""


class ModelUnavailable(SessionError):
    """Weights, a scorer's model or a device that the run needs are not there (now or on first use)."""


class NoPhotos(SessionError):
    """The folder holds no photo at all; nothing was done."""


class NoRun(SessionError):
    """The shoot has no readable saved run (none yet, undone, or damaged); the text says what to do."""
