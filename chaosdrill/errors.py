"""One error tree for the whole engine, rooted in chaoslib's ``ChaosException``.

Drivers wrap client errors into these and keep the cause (``raise ... from e``), so
that Chaos Toolkit reports them as activity failures and the CLI can map them onto
its exit codes: a finding about the drill (bad input, tool failure) is exit 2.
The retryable/permanent split follows kopf's ``TemporaryError``/``PermanentError``.
"""

from chaoslib.exceptions import ActivityFailed, ChaosException

__all__ = [
    "ActivityFailed",
    "BadInput",
    "ChaosdrillError",
    "FaultNotApplied",
    "NotRunning",
    "PermanentError",
    "TemporaryError",
    "ToolError",
]


class ChaosdrillError(ChaosException):
    """Root of every error chaosdrill raises on purpose."""


class TemporaryError(ChaosdrillError):
    """A failure worth retrying: a connection refused while a process restarts."""


class PermanentError(ChaosdrillError):
    """A failure that retrying will not fix."""


class BadInput(PermanentError):
    """A malformed experiment, plan, runbook, topology or argument.

    The message always names the file (or ``<argument>``) and the field.
    """

    def __init__(self, source: str, field: str, problem: str) -> None:
        self.source = source
        self.field = field
        self.problem = problem
        super().__init__(f"{source}: {field}: {problem}")


class NotRunning(PermanentError):
    """A service the drill needs is not up; the message says how to start it."""


class ToolError(PermanentError):
    """A pinned binary is missing or failed to build."""


class FaultNotApplied(ActivityFailed):
    """An injection reported success but its effect could not be observed."""
