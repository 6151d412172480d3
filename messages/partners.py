"""Block Kit for partners: the add modal, the list, and what partner events (store.events.partners)
mean for Slack."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ContextBlock,
    ConversationSelectElement,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticMultiSelectElement,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from messages.fields import input_block
from messages.ids import Partner as Ids
from messages import words  # noqa: F401 - registers how refusals are worded (who may add partners)
from messages.text import channel, escape, truncate, user
from store.events import Post
from store.events.partners import PartnerAdded


def add_partner_modal(*, name: str = "", partner_types, tiers, product_lines) -> dict:
    lines_element = (
        StaticMultiSelectElement(action_id=Ids.INPUT, placeholder="Choose product lines",
                                 options=[Option(text=p, value=p) for p in list(product_lines)[:100]])
        if product_lines
        else PlainTextInputElement(action_id=Ids.INPUT, max_length=500, placeholder="Analytics; Security")
    )
    blocks = [
        input_block(Ids.NAME, "Partner name", PlainTextInputElement(action_id=Ids.INPUT, max_length=200, initial_value=name or None)),
        input_block(Ids.TYPE, "Type", StaticSelectElement(action_id=Ids.INPUT, placeholder="Reseller, referral, SI…",
                                                           options=[Option(text=t, value=t) for t in partner_types][:100])),
        input_block(Ids.TIER, "Tier", StaticSelectElement(action_id=Ids.INPUT, placeholder="Maturity tier",
                                                           options=[Option(text=t, value=t) for t in tiers][:100]),
                    hint="Sets the partner's SLAs from the playbook."),
        input_block(Ids.MARKET, "Market or region", PlainTextInputElement(action_id=Ids.INPUT, max_length=120, placeholder="e.g. EMEA mid-market"), optional=True),
        input_block(Ids.PRODUCT_LINES, "Product lines", lines_element, optional=True,
                    hint=None if product_lines else "Separate several with ;"),
        input_block(Ids.CHANNEL, "Partner channel", ConversationSelectElement(action_id=Ids.INPUT, placeholder="Where handoff notices go"),
                    optional=True),
        input_block(Ids.MANAGER, "Partner manager", UserSelectElement(action_id=Ids.INPUT, placeholder="Who manages this partner"),
                    optional=True, hint="Told about conflicts and escalations."),
    ]
    return View(type="modal", callback_id=Ids.MODAL, title="Add a partner", submit="Add", close="Cancel", blocks=blocks).to_dict()


def partner_list(partners, *, total: int, query: str = "") -> dict[str, Any]:
    if not partners:
        text = (f"No partner matches “{escape(query)}”." if query else "No partners yet.") + \
            " Add one with `/partner add`, or import a CSV with `partnerbot import partners FILE.csv`."
        return {"response_type": "ephemeral", "text": text}
    title = f"Partners matching “{query}” ({total})" if query else f"Partners ({total})"
    blocks: list = [HeaderBlock(text=truncate(title, 150))]  # plain_text: shown as typed
    lines = []
    for p in partners:
        extra = " · ".join(x for x in (escape(p.market), ", ".join(escape(x) for x in p.product_lines or [])) if x)
        lines.append(f"*{escape(p.name)}* — {escape(p.type)}, {escape(p.tier)}" + (f" · {extra}" if extra else "")
                     + f" · manager {user(p.manager_id)} · {channel(p.channel_id)}")
    chunk: list[str] = []
    for line in lines:
        line = truncate(line, 2900)
        if chunk and sum(len(x) + 1 for x in chunk) + len(line) > 2900:
            blocks.append(SectionBlock(text=MarkdownTextObject(text="\n".join(chunk))))
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append(SectionBlock(text=MarkdownTextObject(text="\n".join(chunk))))
    if total > len(partners):
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=f"Showing {len(partners)} of {total}. Narrow it down with `/partner list NAME`.")]))
    return {"response_type": "ephemeral", "text": escape(title), "blocks": [b.to_dict() for b in blocks]}


def partner_added(partner) -> dict[str, Any]:
    """`partner`: anything with its name, type, tier, channel_id and manager_id (a PartnerAdded event)."""
    text = (f":handshake: Added *{escape(partner.name)}* — {escape(partner.type)}, {escape(partner.tier)} tier"
            + (f", notices in {channel(partner.channel_id)}" if partner.channel_id else "")
            + (f", managed by {user(partner.manager_id)}" if partner.manager_id else "")
            + ". Reps can now pick it in `/handoff`.")
    return {"text": f"Added partner {escape(partner.name)}", "blocks": [SectionBlock(text=MarkdownTextObject(text=text)).to_dict()]}


# --- what partner events mean for Slack (messages.events) ---------------------------------------

def on_added(event: PartnerAdded) -> list[Post]:
    return [Post(channel=event.by, message=partner_added(event), kind="partner_added",
                 subject=("partner", event.partner_id), audience=event.by)]


RENDERERS = {PartnerAdded: on_added}
