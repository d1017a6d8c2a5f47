"""The few named exception types the project raises across stage boundaries.

Each carries a message meant for a user: it names the bad value and, where there is one, the
command or option that fixes it. Stages raise these; the CLI and the API turn them into an exit
code or a documented HTTP status without a traceback.
"""

from __future__ import annotations


class LiftStreamError(Exception):
    """Base class: an error whose message is safe and useful to show to a user."""


class ModelMissingError(LiftStreamError):
    """The converted pose model is not in the cache, or the cache is unreadable."""


class InvalidInputError(LiftStreamError):
    """A value given by a caller is out of range or of the wrong type or shape."""


class VideoError(LiftStreamError):
    """A video cannot be read (not a video, truncated, zero frames, too large, too long)."""


class NoLiftError(LiftStreamError):
    """The clip holds no lift that can be analysed (no plate, wrong view, no lift-off)."""
