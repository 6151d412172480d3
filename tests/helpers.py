"""Builders for the forms tests submit."""

from __future__ import annotations

from slackkit import simulator as s
from tests.conftest import BEA, OMAR


def handoff_form(partner_id, **overrides) -> dict:
    """A valid handoff modal state; override any field with a raw element value (or None to leave it empty)."""
    fields = {
        "partner": s.select(str(partner_id) if partner_id is not None else None, kind="external_select"),
        "direction": s.radio("to_partner"),
        "company": s.text("Acme Corp"),
        "domain": s.text("https://www.Acme.com/about"),
        "contact_name": s.text("Ada Lovelace"),
        "contact_email": s.email("ada@acme.com"),
        "consent": s.checkboxes(["yes"]),
        "problem": s.text("Their data team spends two days a month reconciling invoices."),
        "value_proposition": s.text("Globex has done this integration for three of their peers."),
        "next_steps": s.text("Intro call next Tuesday."),
        "estimated_value": s.text("48,000"),
        "product_line": s.text("Analytics"),
        "primary_owner": s.user(OMAR),
        "backup_owner": s.user(BEA),
    }
    fields.update(overrides)
    return s.state(fields)


def modal_errors(answer) -> dict:
    """The inline errors a view submission answered with (and that it did answer with errors)."""
    assert answer.status == 200, answer
    body = answer.json()
    assert body and body.get("response_action") == "errors", answer.body
    return body["errors"]


def mrkdwn_texts(node):
    """Every mrkdwn text in a message or view: the places Slack parses mentions and links."""
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn":
            yield node["text"]
        for value in node.values():
            yield from mrkdwn_texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from mrkdwn_texts(value)
