"""Incident rehearsal: runbooks a team practises against a drill, step by step."""

__all__: list[str] = []
