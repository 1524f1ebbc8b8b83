"""Open-model load: a generator that keeps its timetable whatever the server does, and a
recorder whose windows (measurements.jsonl) are what probes, the guardrail and reports read.

The pieces are separate modules so each can be used alone: ``profile`` (how much to send),
``template`` and ``render`` (what a request looks like and how its answer is judged, for any
HTTP service), ``engine`` and ``client`` (sending it), ``recorder`` (writing windows),
``measurements`` (reading them), ``worker`` and ``control`` (running it in its own process and
steering it), ``system`` (which service an experiment's load goes to).
"""

__all__: list[str] = []
