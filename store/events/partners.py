"""What happens to partners: the events store/partners.py records."""

from __future__ import annotations

from dataclasses import dataclass

from store.events import Event


@dataclass(frozen=True)
class PartnerAdded(Event):
    """A partner added from Slack, as it was saved; `by` is who added it (and is told)."""

    partner_id: int
    name: str
    type: str
    tier: str
    channel_id: str | None
    manager_id: str | None
    by: str
