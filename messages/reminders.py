"""What the clock says to people: reminders and SLA notices. Pure functions; prose in Jinja2 templates
(messages/templates/reminder_*.md.j2) with user text escaped by the `mrkdwn` filter and every time
shown through messages.text.when. Reminders carry the buttons of the card they are about (taken
from the card's own builder), so the reader can act from the reminder itself."""

from __future__ import annotations

import datetime as dt
from typing import Any

from messages import blocks as b
from messages.actions import ActionView, action_card, due_text
from messages.handoff import CARD_KINDS, LeadView, lead_card
from messages.prose import render
from messages.text import escape, truncate, when
from store.events import Post, Refresh
from store.events.leads import (
    AcceptDeadlinePassed,
    LeadPassedToBackup,
    OutreachDeadlinePassed,
    OutreachStillMissing,
    Reach,
)

ACTION_KINDS = ("due_soon", "due_today", "overdue")


def _card_buttons(card: dict[str, Any]) -> list[dict]:
    """The actions block of a card built by its own builder (the same buttons, the same ids)."""
    return [block for block in card.get("blocks", []) if block.get("type") == "actions"]


def _message(text: str, summary: str, buttons: list[dict] | None = None) -> dict[str, Any]:
    return {"text": truncate(summary, 3000), "blocks": [b.section(truncate(text, 3000)), *(buttons or [])]}


# --- leads --------------------------------------------------------------------------------------

def accept_reminder(view: LeadView, *, next_at: dt.datetime, backup_id: str | None) -> dict[str, Any]:
    """To the owner of a lead not accepted by its deadline, with the card's Accept / Decline."""
    text = render("reminder_accept.md.j2", ref=view.ref, company=view.company, due=when(view.accept_by, view.zone),
                  next_at=when(next_at, view.zone), backup_id=backup_id)
    return _message(text, f"{view.ref} · {escape(view.company)} is waiting for you to accept",
                    _card_buttons(lead_card(view, audience="owner")))


def passed_card(view: LeadView, *, missed: dt.datetime, at: dt.datetime) -> dict[str, Any]:
    """The first owner's copy of the card once the lead passed on: no buttons, and why it moved."""
    card = lead_card(view, audience="channel")
    line = render("reminder_passed_card.md.j2", due=when(missed, view.zone), new_owner_id=view.primary_owner_id,
                  at=when(at, view.zone))
    return {"text": truncate(f"{view.ref} · {escape(view.company)} — passed to the backup owner", 3000),
            "blocks": [*card["blocks"][:49], b.section(line)][:50]}


def passed_owner_notice(view: LeadView, *, missed: dt.datetime) -> dict[str, Any]:
    text = render("reminder_passed_owner.md.j2", ref=view.ref, company=view.company, partner=view.partner,
                  due=when(missed, view.zone), new_owner_id=view.primary_owner_id)
    return _message(text, f"{view.ref} passed to the backup owner")


def passed_sender_notice(view: LeadView, *, from_owner_id: str, missed: dt.datetime) -> dict[str, Any]:
    text = render("reminder_passed_sender.md.j2", ref=view.ref, company=view.company, partner=view.partner,
                  due=when(missed, view.zone), old_owner_id=from_owner_id, new_owner_id=view.primary_owner_id,
                  accept_by=when(view.accept_by, view.zone))
    return _message(text, f"{view.ref} passed to the backup owner")


def outreach_reminder(view: LeadView, *, next_at: dt.datetime) -> dict[str, Any]:
    """To the owner of an accepted lead with no first outreach logged by its deadline, with the card's buttons."""
    text = render("reminder_outreach.md.j2", ref=view.ref, company=view.company, partner=view.partner,
                  due=when(view.first_outreach_by, view.zone), next_at=when(next_at, view.zone),
                  manager_id=view.partner_manager_id)
    return _message(text, f"First outreach on {view.ref} is overdue", _card_buttons(lead_card(view, audience="owner")))


def outreach_manager_note(view: LeadView) -> dict[str, Any]:
    text = render("reminder_outreach_manager.md.j2", ref=view.ref, company=view.company, partner=view.partner,
                  due=when(view.first_outreach_by, view.zone), owner_id=view.primary_owner_id)
    return _message(text, f"No first outreach logged on {view.ref}")


# --- what the clock's lead events mean for Slack (messages.events) ---------------------------------

def _once(reach: Reach, view: LeadView, message: dict[str, Any], kind: str) -> Post:
    """A message to one person, at most once (its key) and not before their business day starts."""
    return Post(channel=reach.user_id, message=message, kind=kind, subject=("lead", view.id),
                audience=reach.user_id, key=reach.key, not_before=reach.not_before)


def on_accept_deadline_passed(event: AcceptDeadlinePassed) -> list[Post | Refresh]:
    view = event.lead
    return [_once(event.owner, view, accept_reminder(view, next_at=event.passes_at, backup_id=view.backup_owner_id),
                  "accept_reminder")]


def on_passed_to_backup(event: LeadPassedToBackup) -> list[Post | Refresh]:
    """Every copy of the card brought up to date — the first owner's without buttons, saying why it
    moved — then the new owner's card and the notices, each at most once."""
    view, first_owner = event.lead, event.from_owner_id

    def render_copy(row) -> dict[str, Any]:
        if row.kind == "lead_notice":
            return lead_card(view, audience="channel")
        if row.audience == first_owner:
            return passed_card(view, missed=event.missed, at=event.at)
        return lead_card(view, audience="owner")

    said: list[Post | Refresh] = [
        Refresh(subject=("lead", view.id), kinds=CARD_KINDS, render=render_copy),
        _once(event.new_owner, view, lead_card(view, audience="owner"), "lead_card"),
        _once(event.first_owner, view, passed_owner_notice(view, missed=event.missed), "lead_passed"),
    ]
    if event.sender is not None:
        said.append(_once(event.sender, view, passed_sender_notice(view, from_owner_id=first_owner, missed=event.missed),
                          "lead_passed"))
    return said


def on_outreach_deadline_passed(event: OutreachDeadlinePassed) -> list[Post | Refresh]:
    return [_once(event.owner, event.lead, outreach_reminder(event.lead, next_at=event.manager_at), "outreach_reminder")]


def on_outreach_still_missing(event: OutreachStillMissing) -> list[Post | Refresh]:
    return [_once(event.manager, event.lead, outreach_manager_note(event.lead), "outreach_manager")]


RENDERERS = {
    AcceptDeadlinePassed: on_accept_deadline_passed,
    LeadPassedToBackup: on_passed_to_backup,
    OutreachDeadlinePassed: on_outreach_deadline_passed,
    OutreachStillMissing: on_outreach_still_missing,
}


# --- actions ------------------------------------------------------------------------------------

def action_reminder(view: ActionView, *, kind: str, today: dt.date, now: dt.datetime) -> dict[str, Any]:
    """`kind`: due_soon (the business day before), due_today, overdue. With the card's Done / Snooze / Reassign."""
    if kind not in ACTION_KINDS:
        raise ValueError(f"unknown action reminder kind {kind!r}")
    text = render("reminder_action.md.j2", kind=kind, ref=view.ref, title=view.title, due=due_text(view.due_date),
                  days=(today - view.due_date).days)
    summary = {"due_soon": "is due soon", "due_today": "is due today", "overdue": "is overdue"}[kind]
    return _message(text, f"{view.ref} · {escape(view.title)} {summary}",
                    _card_buttons(action_card(view, audience=view.owner_id, now=now)))
