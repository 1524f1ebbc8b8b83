"""Chaos Toolkit controls: ledger (no fault left behind), load (live traffic), guardrail
(abort on error-budget burn). Declare them in an experiment's ``controls`` block."""
