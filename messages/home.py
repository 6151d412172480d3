"""The App Home tab: each person's own desk. For now, the leads waiting on them."""

from __future__ import annotations

from slack_sdk.models.blocks import ContextBlock, DividerBlock, HeaderBlock, MarkdownTextObject, SectionBlock
from slack_sdk.models.views import View

from messages.handoff import LeadView, leads_list


def home_view(views: list[LeadView], *, total: int, user_id: str) -> dict:
    blocks: list = [HeaderBlock(text="Your partner desk")]
    if views:
        blocks += leads_list(views[:25], total=total, user_id=user_id)["blocks"][1:]
    else:
        blocks.append(SectionBlock(text=MarkdownTextObject(text="No open leads right now.")))
    blocks += [
        DividerBlock(),
        ContextBlock(elements=[MarkdownTextObject(
            text="Hand off a lead with `/handoff`, see partners with `/partner list`, and `/handoff help` for more.")]),
    ]
    return View(type="home", blocks=blocks).to_dict()
