"""The digest's chart: a PNG drawn with matplotlib's Agg backend (no display, safe in any process)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # before pyplot: render to memory, never open a window

from matplotlib.figure import Figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def digest_chart(*, title: str, partners: Sequence[tuple[str, int, int]],
                 months: Sequence[tuple[str, float | None]]) -> bytes:
    """Leads handed off and wins per partner (bars), beside the first-outreach SLA hit rate over the
    last months (a line; a month with no deadlines is a gap, not a zero). Returns PNG bytes.

    partners: (name, leads, wins); months: (label, hit rate 0–1 or None).
    """
    figure = Figure(figsize=(11, 4.8), dpi=100)
    left, right = figure.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    figure.suptitle(title)

    names = [_short(name) for name, _, _ in partners]
    positions = range(len(names))
    width = 0.4
    left.bar([p - width / 2 for p in positions], [leads for _, leads, _ in partners], width, label="leads handed off")
    left.bar([p + width / 2 for p in positions], [wins for _, _, wins in partners], width, label="wins")
    left.set_xticks(list(positions), names, rotation=35, ha="right", fontsize=8)
    left.yaxis.get_major_locator().set_params(integer=True)
    left.set_title("Leads and wins per partner")
    left.legend(fontsize=8)
    if not names:
        left.text(0.5, 0.5, "no partner activity", ha="center", va="center", transform=left.transAxes)

    labels = [label for label, _ in months]
    rates = [rate * 100 if rate is not None else float("nan") for _, rate in months]
    right.plot(range(len(labels)), rates, marker="o")
    right.set_xticks(range(len(labels)), labels)
    right.set_ylim(0, 105)
    right.set_ylabel("% on time")
    right.set_title("First-outreach SLA hit rate")
    right.tick_params(axis="x", labelsize=8, rotation=35)
    figure.tight_layout()

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _short(name: str, limit: int = 18) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"
