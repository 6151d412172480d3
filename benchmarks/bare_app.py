"""The framework's floor for benchmarks/bench_handoff.py: a bare Bolt app doing the least each request needs.

It answers the same four requests the partnerbot benchmark sends, with no database and no
middleware of its own:

- the `/handoff` command: ack, then open a one-field modal through views.open (like partnerbot,
  the modal is opened by the listener after the ack);
- the `partner_search` type-ahead: ack with one option;
- the `handoff_submit` view submission: ack (the modal closes);
- the `lead_accept` button: ack.

For benchmarks/bench_decisions.py it also answers, in the same spirit:

- the `/action` command: ack, then a one-line answer on the response_url (partnerbot posts the
  list there after its ack);
- the `escalation_approve` button: ack, then open a one-field decide modal through views.open
  (partnerbot opens its decide modal after the ack), carrying the escalation in private_metadata;
- the `escalation_decide_submit` view submission: ack (the modal closes).

Served by gunicorn exactly like the real web process:

    gunicorn 'benchmarks.bare_app:application()' --worker-class gthread --workers 2 --threads 8 ...

Settings come from the same environment variables as partnerbot: SLACK_BOT_TOKEN,
SLACK_SIGNING_SECRET and SLACK_API_URL. GET /healthz answers 200 (without a database) so the
benchmark can wait for readiness the same way for both apps; every other path goes to Bolt's
SlackRequestHandler, as partnerbot's own WSGI wrapper does.
"""

from __future__ import annotations

import json
import logging
import os

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

MODAL = {
    "type": "modal",
    "callback_id": "handoff_submit",
    "title": {"type": "plain_text", "text": "Hand off a lead"},
    "submit": {"type": "plain_text", "text": "Hand off"},
    "close": {"type": "plain_text", "text": "Cancel"},
    "blocks": [
        {
            "type": "input",
            "block_id": "company",
            "label": {"type": "plain_text", "text": "Company"},
            "element": {"type": "plain_text_input", "action_id": "value"},
        }
    ],
}
OPTION = {"text": {"type": "plain_text", "text": "Globex Partners (silver)"}, "value": "1"}
DECIDE_MODAL = {
    "type": "modal",
    "callback_id": "escalation_decide_submit",
    "title": {"type": "plain_text", "text": "Approve"},
    "submit": {"type": "plain_text", "text": "Approve"},
    "close": {"type": "plain_text", "text": "Cancel"},
    "blocks": [
        {
            "type": "input",
            "block_id": "note",
            "optional": True,
            "label": {"type": "plain_text", "text": "Note"},
            "element": {"type": "plain_text_input", "action_id": "value", "multiline": True},
        }
    ],
}


def _decide_metadata(value: str | None) -> str:
    """`<escalation id>:<level>` (the Approve button's value) -> the decide modal's private_metadata."""
    escalation_id, _, level = (value or "").partition(":")
    return json.dumps({"escalation_id": int(escalation_id) if escalation_id.isdigit() else 0,
                       "level": int(level) if level.isdigit() else 0, "decision": "approve"})


def create_app(token: str, signing_secret: str, api_url: str) -> App:
    client = WebClient(token=token, base_url=api_url, timeout=10)
    app = App(client=client, signing_secret=signing_secret, logger=logging.getLogger("bare.bolt"))

    @app.command("/handoff")
    def command(ack, command, client):
        ack()
        client.views_open(trigger_id=command["trigger_id"], view=MODAL)

    @app.options("partner_search")
    def options(ack):
        ack(options=[OPTION])

    @app.view("handoff_submit")
    def submit(ack):
        ack()

    @app.action("lead_accept")
    def accept(ack):
        ack()

    @app.command("/action")
    def action_command(ack, respond):
        ack()
        respond(text="Your open actions (0)", response_type="ephemeral")

    @app.action("escalation_approve")
    def approve(ack, body, action, client):
        ack()
        client.views_open(trigger_id=body["trigger_id"],
                          view={**DECIDE_MODAL, "private_metadata": _decide_metadata(action.get("value"))})

    @app.view("escalation_decide_submit")
    def decide(ack):
        ack()

    return app


def make_wsgi(app: App):
    slack = SlackRequestHandler(app)
    ok = json.dumps({"status": "ok"}).encode()

    def wsgi(environ, start_response):
        if environ.get("PATH_INFO", "") == "/healthz":
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(ok)))])
            return [ok]
        return slack(environ, start_response)

    return wsgi


def application():
    """gunicorn's entry: `gunicorn 'benchmarks.bare_app:application()'`."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    api_url = os.environ.get("SLACK_API_URL") or "https://slack.com/api/"
    if not api_url.endswith("/"):
        api_url += "/"
    return make_wsgi(create_app(os.environ["SLACK_BOT_TOKEN"], os.environ["SLACK_SIGNING_SECRET"], api_url))
