"""Control: open-model traffic for the whole experiment, so probes judge a system under load.

The load starts before the steady-state hypothesis (after a short warm-up, so the first
probes have windows to read) and stops after the rollbacks. It runs in its own process
(``chaosdrill.load.worker``) that dies with the runner. Its windows land in
``measurements.jsonl`` in the run directory — ``$CHAOSDRILL_RUN_DIR`` if set (drills set
it beside the journal), else ``<CHAOSDRILL_HOME>/runs/<run id>`` — and the path is
written into the journal under ``chaosdrill.measurements``.

Arguments (the ``provider.arguments`` of the control):
``profile`` — a load profile without ``url``/``duration_s`` (the sandbox edge and
``max_duration_s`` are filled in), ``warmup_s`` (default 3), ``max_duration_s`` (default 600).
"""

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaosdrill import runctx
from chaosdrill.errors import BadInput

if TYPE_CHECKING:
    from chaosdrill.load.control import LoadHandle

__all__ = [
    "after_experiment_control",
    "before_experiment_control",
    "cleanup_control",
    "measurements_path",
]

log = logging.getLogger("chaosdrill.controls.load")
_handle: "LoadHandle | None" = None


def measurements_path() -> Path | None:
    return runctx.measurements_path()


def _run_dir() -> Path:
    return runctx.run_dir()


def _sandbox_url() -> str:
    from chaosdrill.sandbox.lifecycle import require_state

    return f"{require_state()['edge']['url']}/v1/generate"


def before_experiment_control(
    context: Any,
    profile: dict[str, Any] | None = None,
    warmup_s: float = 3.0,
    max_duration_s: float = 600.0,
    **_kwargs: Any,
) -> None:
    """Start the load worker and wait out the warm-up."""
    # Imported here, not at the top: the guardrail imports this module for
    # measurements_path() on every run, and the load stack (aiohttp) costs ~0.25 s to import.
    from chaosdrill.load.control import start
    from chaosdrill.load.profile import parse_profile

    global _handle
    if not isinstance(profile, dict):
        raise BadInput(
            "<experiment>", "controls[chaosdrill-load].provider.arguments.profile", "must be a mapping"
        )
    spec = {"duration_s": max_duration_s, **profile}
    spec.setdefault("url", _sandbox_url())
    parsed = parse_profile(spec, "<experiment> controls[chaosdrill-load].provider.arguments.profile")
    _handle = start(parsed, _run_dir())
    runctx.set_measurements(_handle.measurements)
    log.info(
        "load: %.0f req/s over %d streams -> %s", parsed.total_rate, len(parsed.streams), _handle.measurements
    )
    time.sleep(warmup_s)


def _stop() -> None:
    global _handle
    if _handle is not None:
        try:
            _handle.stop()
        finally:
            _handle = None


def after_experiment_control(context: Any, state: Any = None, **_kwargs: Any) -> None:
    """After the rollbacks: stop the load and point the journal at its measurements."""
    measurements = measurements_path()
    _stop()
    if isinstance(state, dict) and measurements is not None:
        state.setdefault("chaosdrill", {})["measurements"] = str(measurements.resolve())


def cleanup_control() -> None:
    """Never leave traffic running, whatever ended the run."""
    _stop()
