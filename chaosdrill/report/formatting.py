"""Number formatting shared by every renderer, so HTML, Markdown and history print alike."""

__all__ = ["fmt_ms", "fmt_pct", "fmt_s", "guarded_text"]


def fmt_pct(ratio: float | None) -> str:
    """An availability ratio with enough nines to tell 99.95% from 99.9%."""
    return "n/a" if ratio is None else f"{ratio * 100:.3f}%"


def fmt_ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} ms"


def fmt_s(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} s"


def guarded_text(guarded: bool | None) -> str:
    """The report's "Guarded:" answer: yes, no, or unknown when no journal says."""
    return "unknown" if guarded is None else ("yes" if guarded else "no")
