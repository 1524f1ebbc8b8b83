"""The Kubernetes HorizontalPodAutoscaler algorithm, as pure functions.

desired = ceil(current * metric / target), skipped when the ratio is within the
tolerance (default 10%), clamped to [min, max], and, when scaling down, held at the
highest recommendation seen within the stabilization window — the same rules as
the upstream controller (kubernetes.io "Horizontal Pod Autoscaling", algorithm details).
"""

import math
from collections import deque
from dataclasses import dataclass

__all__ = ["Recommender", "desired_replicas"]


def desired_replicas(
    current: int, utilization: float, target: float, tolerance: float, min_r: int, max_r: int
) -> int:
    """One HPA step on the average utilization of the ready replicas."""
    if current <= 0:
        return min_r
    ratio = utilization / target
    desired = current if abs(ratio - 1.0) <= tolerance else math.ceil(current * ratio)
    return max(min_r, min(max_r, desired))


@dataclass
class Recommender:
    """Keeps recommendations over time to apply the scale-down stabilization window."""

    stabilization_s: float
    _history: deque[tuple[float, int]] | None = None

    def recommend(self, now: float, raw_desired: int, current: int) -> int:
        if self._history is None:
            self._history = deque()
        self._history.append((now, raw_desired))
        while self._history and now - self._history[0][0] > self.stabilization_s:
            self._history.popleft()
        if raw_desired >= current:
            return raw_desired
        # Scaling down: never below the highest recommendation within the window.
        return min(current, max(d for _, d in self._history))
