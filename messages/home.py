"""The App Home tab: each person's dashboard, as plain Block Kit dicts (it is rebuilt on every open
and every change, so it skips the slack_sdk model objects' cost). At most about 60 blocks, well
inside Slack's 100: fixed-size lists with "and N more" lines, and ten partners per page."""

from __future__ import annotations

from typing import Any

from messages import blocks as b
from messages.actions import link_text
from messages.escalations import _decision_elements
from messages.handoff import _clocks
from messages.ids import Action as ActionIds
from messages.ids import Handoff as HandoffIds
from messages.ids import Home as Ids
from messages.scorecards import scorecard_message, summary_line
from messages.text import escape, truncate, user, when
from store.home import ANY, FILTERS, PARTNERS_PER_PAGE, PERIODS, Dashboard, ScorecardPage

FILTER_IDS = {"type": Ids.FILTER_TYPE, "tier": Ids.FILTER_TIER, "market": Ids.FILTER_MARKET,
              "product_line": Ids.FILTER_PRODUCT_LINE}
FILTER_NAMES = {"type": "All types", "tier": "All tiers", "market": "All markets", "product_line": "All product lines"}


def _option(text: str, value: str) -> dict:
    return {"text": {"type": "plain_text", "text": truncate(text, 75)}, "value": value[:150]}


def _select(action_id: str, placeholder: str, choices: list[tuple[str, str]], current: str) -> dict:
    options = [_option(text, value) for text, value in choices[:100]]
    element = {"type": "static_select", "action_id": action_id,
               "placeholder": {"type": "plain_text", "text": placeholder}, "options": options}
    chosen = next((o for o in options if o["value"] == current), None)
    if chosen is not None:
        element["initial_option"] = chosen
    return element


def _leads(board: Dashboard) -> list[dict]:
    blocks = [b.section(f"*Leads waiting on you* ({board.leads_total})")]
    if not board.leads:
        return blocks + [b.context("Nothing to accept or contact. New leads handed to you show up here.")]
    for v in board.leads:
        line = f"*{v.ref}* — {escape(v.company)} · {escape(v.partner)}\n" + _clocks(v).split("\n")[-1]
        button = (b.button("Accept", HandoffIds.ACCEPT, str(v.id), style="primary") if v.stage == "handed_off"
                  else b.button("Log first outreach", HandoffIds.LOG_OUTREACH, str(v.id)))
        blocks.append(b.section(truncate(line, 3000), accessory=button))
    if board.leads_total > len(board.leads):
        blocks.append(b.context(f"The {len(board.leads)} most urgent of {board.leads_total}: `/handoff list` "
                                "shows them all."))
    return blocks


def _actions(board: Dashboard) -> list[dict]:
    overdue = f", *{board.overdue} overdue*" if board.overdue else ""
    blocks = [b.section(f"*Your actions* ({board.actions_total}{overdue})")]
    if not board.actions:
        return blocks + [b.context("No open actions. `/action` records one with an owner and a due date.")]
    for v in board.actions:
        late = board.today is not None and v.due_date < board.today
        mark = ":red_circle: overdue since" if late else "due"
        line = f"{':red_circle: ' if late else ''}*{v.ref}* {escape(truncate(v.title, 150))}\n{mark} {v.due_date:%a %d %b}"
        if v.link:
            line += f" · {link_text(v.link)}"
        blocks.append(b.section(truncate(line, 3000), accessory=b.button("Done", ActionIds.DONE, str(v.id))))
    if board.actions_total > len(board.actions):
        blocks.append(b.context(f"The first {len(board.actions)} of {board.actions_total}, overdue first: "
                                "`/action list` shows them all."))
    return blocks


def _escalations(board: Dashboard) -> list[dict]:
    blocks = [b.section(f"*Escalations waiting for your decision* ({board.escalations_total})")]
    if not board.escalations:
        return blocks + [b.context("None waiting for you.")]
    for v in board.escalations:
        text = (f"*{v.ref}* {escape(v.kind_name)} · {escape(v.severity)}: *{escape(truncate(v.about, 200))}*\n"
                f"Asked by {user(v.requester_id)}" + (f" about {v.link_ref}" if v.link_ref else "")
                + f" · decide by {when(v.level_due_at, v.zone)}")
        blocks.append(b.section(truncate(text, 3000)))
        blocks.append({"type": "actions", "block_id": f"home_escalation_{v.id}",
                       "elements": [e.to_dict() if hasattr(e, "to_dict") else e for e in _decision_elements(v)]})
    if board.escalations_total > len(board.escalations):
        blocks.append(b.context(f"The {len(board.escalations)} most urgent of {board.escalations_total}; the "
                                "others are in your DMs."))
    return blocks


def _scorecards(page: ScorecardPage, filters: dict[str, Any]) -> list[dict]:
    whose = "every partner" if page.scope == "all" else "your partners"
    blocks: list[dict] = [b.header("Partner scorecards")]
    selects = [_select(FILTER_IDS[key], FILTER_NAMES[key],
                       [(FILTER_NAMES[key], ANY)] + [(value, value) for value in page.options[key]],
                       filters.get(key) or ANY)
               for key in FILTERS if page.options[key]]
    selects.append(_select(Ids.FILTER_PERIOD, "Period", [(p.capitalize(), p) for p in PERIODS], filters["period"]))
    blocks.append({"type": "actions", "block_id": Ids.FILTERS_BLOCK, "elements": selects})
    narrowed = f"{page.total} of {page.scope_total}" if page.total != page.scope_total else f"{page.total}"
    if not page.cards:
        blocks.append(b.section(f"No partner among {whose} matches these filters." if page.scope_total
                                else "No partners yet. Add one with `/partner add`."))
        return blocks
    first = page.page * PARTNERS_PER_PAGE + 1
    blocks.append(b.context(f"{escape(page.period.label)} · {narrowed} of {whose} · showing {first}–"
                            f"{first + len(page.cards) - 1}, needing attention first · scores out of 100 "
                            "against each tier's targets"))
    for card in page.cards:
        value = f"{card.partner.id}|{page.period.label if not page.period.ongoing else filters['period']}"
        blocks.append(b.section(truncate(summary_line(card), 3000),
                                accessory=b.button("Scorecard", Ids.SCORECARD, value)))
    if page.pages > 1:
        buttons = []
        if page.page > 0:
            buttons.append(b.button("← Previous", Ids.PAGE_PREVIOUS, str(page.page - 1)))
        if page.page + 1 < page.pages:
            buttons.append(b.button("Next →", Ids.PAGE_NEXT, str(page.page + 1)))
        blocks.append({"type": "actions", "block_id": Ids.PAGES_BLOCK, "elements": buttons})
        blocks.append(b.context(f"Page {page.page + 1} of {page.pages}"))
    return blocks


def home_view(board: Dashboard) -> dict:
    blocks: list[dict] = [b.header("Your partner desk")]
    blocks += _leads(board)
    blocks.append(b.divider())
    blocks += _actions(board)
    blocks.append(b.divider())
    blocks += _escalations(board)
    if board.scorecards is not None:
        blocks.append(b.divider())
        blocks += _scorecards(board.scorecards, board.filters)
    blocks += [b.divider(), b.context("Hand off a lead with `/handoff`, record an action with `/action`, see a "
                                      "partner's scorecard with `/partner scorecard NAME`; `/partner help` for more.")]
    return {"type": "home", "blocks": blocks[:100]}


def scorecard_modal(card) -> dict:
    """The full scorecard in a modal, opened from a Home row."""
    message = scorecard_message(card)
    blocks = message["blocks"]
    if blocks and blocks[0].get("type") == "header":
        blocks = blocks[1:]
    return {"type": "modal", "title": {"type": "plain_text", "text": "Scorecard"},
            "close": {"type": "plain_text", "text": "Close"},
            "blocks": [b.section(f"*{escape(card.partner.name)}* — {escape(card.period.label)}")] + blocks[:99]}
