"""`/partner history REF`: the audit trail of a lead, an action, an escalation or an issue."""

from __future__ import annotations

from messages.history import history_message
from store.history import history as audit_trail


def history(rest, command, client, respond, services) -> None:
    with services.sessions() as session:
        found = audit_trail(session, rest)
    respond(**history_message(found, services.playbook.tz))
