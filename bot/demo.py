"""`partnerbot demo`: a whole handoff through the real app, a real SQLite store and a local
stand-in of Slack's Web API, printing what each person would see in Slack."""

from __future__ import annotations

import datetime as dt
import re
import tempfile
import textwrap
from pathlib import Path
from zoneinfo import ZoneInfo

from slackkit import simulator as s
from bot.app import build_services, create_app
from bot.settings import Settings
from slackkit.simulator import LocalServer, SlackSimulator
from slackkit.webapi import SlackStandin
from bot.web import make_wsgi
from store.db import transaction
from store.migrate import upgrade
from store.partners import import_partners_csv
from store.playbook import parse_playbook

TOKEN, SECRET = "xoxb-demo-token", "demo-signing-secret"
PEOPLE = {
    "U0DEMORIYA": ("Riya (sales rep)", "America/New_York"),
    "U0DEMOOMAR": ("Omar (Globex rep)", "America/Chicago"),
    "U0DEMOBEA": ("Bea (backup owner)", "Europe/London"),
    "U0DEMOSTAN": ("Stan (another rep)", "America/Los_Angeles"),
    "U0DEMOMIA": ("Mia (partner manager)", "America/New_York"),
    "U0DEMONOAH": ("Noah (partner manager)", "Europe/Berlin"),
}
CHANNELS = {"C0DEMOGLOBEX": "globex-partners", "C0DEMOINITECH": "initech-partners"}
PLAYBOOK = """
timezone: America/New_York
business_hours: {days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00"}
sla:
  default: {accept_within_hours: 8, first_outreach_within_hours: 16}
  tiers: {gold: {accept_within_hours: 4, first_outreach_within_hours: 8}}
conflicts: {protection_window_days: 90}
"""
PARTNERS_CSV = """name,type,tier,market,product_lines,channel_id,manager_id
Globex Partners,reseller,gold,North America,Analytics;Security,C0DEMOGLOBEX,U0DEMOMIA
Initech Consulting,si,silver,EMEA,Analytics,C0DEMOINITECH,U0DEMONOAH
Global Reach,referral,registered,APAC,,,
"""


def run_demo(*, database: str | None = None, keep: bool = False) -> int:
    folder = Path(tempfile.mkdtemp(prefix="partnerbot-demo-"))
    url = database or f"sqlite:///{folder / 'demo.db'}"
    with SlackStandin(token=TOKEN) as slack:
        for user_id, (name, tz) in PEOPLE.items():
            slack.users[user_id] = {"id": user_id, "real_name": name, "tz": tz}
        upgrade(url)
        settings = Settings(slack_bot_token=TOKEN, slack_signing_secret=SECRET, slack_api_url=slack.url, database_url=url)
        services = build_services(settings, playbook=parse_playbook(PLAYBOOK, "demo-playbook.yml"))
        with transaction(services.sessions) as session:
            report = import_partners_csv(session, PARTNERS_CSV, playbook=services.playbook, actor_id="demo")
        app = create_app(settings, services=services)
        with LocalServer(make_wsgi(app)) as server:
            sim = SlackSimulator(f"{server.url}/slack/events", SECRET, response_url=slack.response_url("demo"))
            _play(sim, slack, report)
            sim.close()
        app.services.drain()
        _summary(services)
        services.engine.dispose()
    if keep:
        print(f"\nThe demo's database is kept at {url}")
    return 0


def _play(sim: SlackSimulator, slack: SlackStandin, report) -> None:
    riya, omar, stan = "U0DEMORIYA", "U0DEMOOMAR", "U0DEMOSTAN"
    _title(f"Setup: {report.added} partners imported from CSV (partnerbot import partners FILE.csv)")

    _title("1. Riya types /handoff Acme Corp")
    sim.command("/handoff", "Acme Corp", user_id=riya)
    view = slack.wait_for("views.open")[-1].args["view"]
    _show_modal(riya, view)

    _title("2. Riya types “glo” in the Partner field")
    options = sim.suggest("partner_search", "glo", user_id=riya).json()["options"]
    print("   Riya sees: " + ", ".join(o["text"]["text"] for o in options))

    _title("3. Riya fills in the form and presses Hand off")
    form = {
        "partner": s.select(options[1]["value"], kind="external_select"), "direction": s.radio("to_partner"),
        "company": s.text("Acme Corp"), "domain": s.text("https://www.acme.com/"), "contact_name": s.text("Ada Lovelace"),
        "contact_email": s.email("ada@acme.com"), "consent": s.checkboxes(["yes"]),
        "problem": s.text("Finance spends two days a month reconciling partner invoices by hand."),
        "value_proposition": s.text("Globex has automated this for three companies in Acme's industry."),
        "next_steps": s.text("Intro call with Acme's CFO next Tuesday."), "estimated_value": s.text("48000"),
        "product_line": s.text("Analytics"), "primary_owner": s.user(omar), "backup_owner": s.user("U0DEMOBEA"),
    }
    bad = sim.submit("handoff_submit", s.state({**form, "contact_email": s.email("ada(at)acme"), "consent": s.checkboxes([])}),
                     user_id=riya).json()
    print("   First try, with a typo in the email and consent unticked — the modal stays open and says:")
    for field, message in bad["errors"].items():
        print(f"     • {field}: {message}")
    sim.submit("handoff_submit", s.state(form), user_id=riya)
    for call in slack.wait_for("chat.postMessage", 3):
        _show_message(call.args["channel"], call.args)

    _title("4. Stan, who does not own the lead, presses Accept")
    lead_id = "1"
    sim.click("lead_accept", lead_id, user_id=stan)
    _show_ephemeral(stan, slack.wait_for("response_url")[-1].args)

    _title("5. Omar presses Accept on his card")
    sim.click("lead_accept", lead_id, user_id=omar)
    for call in slack.wait_for("chat.update", 2):
        _show_message(call.args["channel"], call.args, edited=True)
    told = slack.wait_for("chat.postMessage", 4)[-1]
    _show_message(told.args["channel"], told.args)

    _title("6. Omar presses Accept again (a double click)")
    sim.click("lead_accept", lead_id, user_id=omar)
    _show_ephemeral(omar, slack.wait_for("response_url", 2)[-1].args)

    _title("7. Omar calls Acme and presses Log first outreach")
    sim.click("lead_log_outreach", lead_id, user_id=omar)
    owner_edits = slack.wait_for("chat.update", 2, where=lambda c: c.args["channel"] == f"D{omar}")
    _show_message(owner_edits[-1].args["channel"], owner_edits[-1].args, edited=True)

    _title("8. Stan hands Acme to another partner — a possible channel conflict")
    initech = sim.suggest("partner_search", "initech", user_id=stan).json()["options"][0]["value"]
    sim.submit("handoff_submit", s.state({**form, "partner": s.select(initech, kind="external_select"),
                                          "domain": s.text(""), "contact_email": s.email("cfo@acme.com"),
                                          "primary_owner": s.user("U0DEMOSTAN"), "backup_owner": s.user(None)}),
               user_id=stan)
    for call in slack.wait_for("chat.postMessage", 2, where=lambda c: "conflict" in c.args.get("text", "").lower()):
        _show_message(call.args["channel"], call.args)

    _title("9. Riya types /handoff list")
    sim.command("/handoff", "list", user_id=riya)
    _show_ephemeral(riya, slack.wait_for("response_url", 3)[-1].args)


def _summary(services) -> None:
    from sqlalchemy import func, select

    from store.models import AuditEvent, Lead, OutboxMessage

    _title("In the database")
    with services.sessions() as session:
        leads = session.scalar(select(func.count(Lead.id)))
        sent = session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.status == "sent"))
        waiting = session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.status != "sent"))
        print(f"   {leads} leads; {sent} Slack messages sent, {waiting} waiting. Audit trail:")
        for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
            print(f"     {event.at:%H:%M:%S}  {_name(event.actor_id):<24} {event.action} {event.object_type} {event.object_id}")


# --- a plain-text rendering of Block Kit, as each reader would see it ----------------------------

def _name(user_id: str) -> str:
    return PEOPLE.get(user_id, (user_id, ""))[0]


def _reader_zone(channel: str) -> ZoneInfo:
    user_id = channel[1:] if channel.startswith("D") else channel
    return ZoneInfo(PEOPLE.get(user_id, ("", "America/New_York"))[1] or "America/New_York")


def _mrkdwn(text: str, zone: ZoneInfo) -> str:
    def date(match):
        moment = dt.datetime.fromtimestamp(int(match.group(1)), zone)
        return moment.strftime("%a %d %b, %H:%M ") + (moment.tzname() or "")

    text = re.sub(r"<!date\^(\d+)\^[^|>]*\|[^>]*>", date, text)
    text = re.sub(r"<@([A-Z0-9]+)>", lambda m: "@" + _name(m.group(1)).split(" (")[0], text)
    text = re.sub(r"<#([A-Z0-9]+)>", lambda m: "#" + CHANNELS.get(m.group(1), m.group(1)), text)
    text = re.sub(r":[a-z_]+:\s?", "", text).replace("*", "").replace("`", "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _block_lines(block: dict, zone: ZoneInfo) -> list[str]:
    kind = block["type"]
    if kind == "header":
        return [block["text"]["text"].upper()]
    if kind == "section":
        lines = [_mrkdwn(block["text"]["text"], zone)] if block.get("text") else []
        for field in block.get("fields", []):
            lines.append(_mrkdwn(field["text"], zone).replace("\n", ": ", 1))
        if block.get("accessory", {}).get("type") == "button":
            lines[-1] += f"   [ {block['accessory']['text']['text']} ]"
        return lines
    if kind == "context":
        return [_mrkdwn(e.get("text", ""), zone) for e in block["elements"]]
    if kind == "actions":
        return ["  ".join(f"[ {e['text']['text']} ]" for e in block["elements"])]
    return []


def _print_blocks(blocks: list[dict], zone: ZoneInfo) -> None:
    for block in blocks:
        for line in _block_lines(block, zone):
            for part in line.split("\n"):
                print(textwrap.fill(part, 96, initial_indent="   │ ", subsequent_indent="   │   ") if part else "   │")


def _show_message(channel: str, message: dict, *, edited: bool = False) -> None:
    where = f"#{CHANNELS[channel]}" if channel in CHANNELS else f"{_name(channel.lstrip('D') if channel.startswith('D') else channel)} (direct message)"
    print(f"\n   {where} {'— the card is edited in place' if edited else ''}".rstrip())
    _print_blocks(message.get("blocks") or [{"type": "section", "text": {"type": "mrkdwn", "text": message["text"]}}],
                  _reader_zone(channel))


def _show_ephemeral(user_id: str, message: dict) -> None:
    print(f"\n   {_name(user_id)} sees (only visible to them):")
    _print_blocks(message.get("blocks") or [{"type": "section", "text": {"type": "mrkdwn", "text": message["text"]}}],
                  _reader_zone(user_id))


def _show_modal(user_id: str, view: dict) -> None:
    print(f"\n   {_name(user_id)} sees a form “{view['title']['text']}”:")
    for block in view["blocks"]:
        if block["type"] == "input":
            initial = block["element"].get("initial_value")
            optional = " (optional)" if block.get("optional") else ""
            print(f"   │ {block['label']['text']}{optional}" + (f": {initial}" if initial else ""))
    print(f"   │ [ {view['close']['text']} ]  [ {view['submit']['text']} ]")


def _title(text: str) -> None:
    print(f"\n== {text}")
