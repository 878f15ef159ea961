"""Typed errors and warnings.

Every error the library raises on bad input derives from :class:`ScalingLawsError`; the
command line turns these into exit code 2 with their one-line message.
"""

from __future__ import annotations


class ScalingLawsError(ValueError):
    """Base class of every error the library raises on bad input or an impossible request."""


class RunLogError(ScalingLawsError):
    """A run log is missing columns, holds invalid values, or cannot identify the law."""


class FitError(ScalingLawsError):
    """A fit cannot be attempted (too few runs, unknown option) or produced nothing usable."""


class PlanError(ScalingLawsError):
    """A plan was asked for something the fitted law cannot give (e.g. a loss at or below E)."""


class RecordError(ScalingLawsError):
    """A fit record is unreadable, of an unknown schema, or does not match its law."""


class ScalingLawsWarning(UserWarning):
    """A result that is computed but deserves the user's attention."""
