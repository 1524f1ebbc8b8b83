"""Control: open-model traffic for the whole experiment, so probes judge a system under load.

The load starts before the steady-state hypothesis (after a short warm-up, so the first
probes have windows to read) and stops after the rollbacks. It runs in its own process
(``chaosdrill.load.worker``) that dies with the runner. Its windows land in
``measurements.jsonl`` in the run directory — ``$CHAOSDRILL_RUN_DIR`` if set (drills set
it beside the journal), else ``<CHAOSDRILL_HOME>/runs/<run id>`` — and the path is
written into the journal under ``chaosdrill.measurements``.

Arguments (the ``provider.arguments`` of the control):
``profile`` — a load profile without ``url``/``duration_s`` (the sandbox edge and
``max_duration_s`` are filled in), ``warmup_s`` (default 3), ``max_duration_s`` (default 600),
``endpoints`` — optional, the ``endpoints`` mapping of a system file (request templates and
outcome rules) for a service that is not the sandbox; without it, the endpoints of the system
the configuration selects (``chaosdrill.load.system.endpoints_for``), else the sandbox's
contract; ``url`` — optional, where to send instead (it replaces ``endpoints.base_url``, or
the sandbox edge).
"""

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaosdrill import runctx
from chaosdrill.errors import BadInput

if TYPE_CHECKING:
    from chaosdrill.load.control import LoadHandle
    from chaosdrill.load.template import Endpoints

__all__ = [
    "after_experiment_control",
    "before_experiment_control",
    "cleanup_control",
    "measurements_path",
]

log = logging.getLogger("chaosdrill.controls.load")
_handle: "LoadHandle | None" = None
ARGUMENTS = "<experiment> controls[chaosdrill-load].provider.arguments"


def measurements_path() -> Path | None:
    return runctx.measurements_path()


def _run_dir() -> Path:
    return runctx.run_dir()


def _sandbox_url() -> str:
    # Lazy, like the rest of the load stack below: the guardrail imports this module on every run.
    from chaosdrill.sandbox.lifecycle import edge_url, require_state

    return f"{edge_url(require_state())}/v1/generate"


def _endpoints(endpoints: Any, url: str | None, configuration: dict[str, Any] | None) -> "Endpoints | None":
    # Lazy for start-up time (see _start): the system file and template modules load only here.
    from chaosdrill.load.system import endpoints_for
    from chaosdrill.load.template import parse_endpoints

    found = parse_endpoints(endpoints, ARGUMENTS) if endpoints is not None else endpoints_for(configuration)
    if found is not None and url is not None:
        found = found.with_base_url(url, ARGUMENTS, "url")
    return found


def before_experiment_control(
    context: Any,
    profile: dict[str, Any] | None = None,
    warmup_s: float = 3.0,
    max_duration_s: float = 600.0,
    endpoints: dict[str, Any] | None = None,
    url: str | None = None,
    configuration: dict[str, Any] | None = None,
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
    if url is not None and not isinstance(url, str):
        raise BadInput(ARGUMENTS, "url", f"must be a URL string, got {url!r}")
    found = _endpoints(endpoints, url, configuration)
    spec = {"duration_s": max_duration_s, **profile}
    if "tracking" not in profile:
        from chaosdrill.load.system import tracking_for

        tracking = tracking_for(configuration)
        if tracking is not None:
            spec["tracking"] = {k: v for k, v in vars(tracking).items() if v is not None}
    if found is not None:
        if "url" in profile:
            raise BadInput(
                ARGUMENTS,
                "profile.url",
                "with request templates, give the URL as endpoints.base_url or as url",
            )
        spec["url"] = found.base_url
    elif url is not None:
        spec["url"] = url
    else:
        spec.setdefault("url", _sandbox_url())
    parsed = parse_profile(spec, f"{ARGUMENTS}.profile")
    _handle = start(parsed, _run_dir(), endpoints=found)
    runctx.set_measurements(_handle.measurements)
    log.info(
        "load: %.0f req/s over %d streams to %s -> %s",
        parsed.total_rate,
        len(parsed.streams),
        parsed.url if found is None else found.base_url,
        _handle.measurements,
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
