"""Block Kit for the lead handoff: the modal, the lead card, notices and the list. Pure functions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import (
    CheckboxesElement,
    EmailInputElement,
    ExternalDataSelectElement,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    RadioButtonsElement,
    SectionBlock,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from messages import blocks as b
from messages import words  # noqa: F401 - registers how refusals are worded (a decision names who took it, and when)
from messages.fields import input_block
from messages.ids import Deal as DealIds
from messages.ids import Escalation as EscalationIds
from messages.ids import Handoff as Ids
from messages.text import escape, money, truncate, user, when
from store.events import Post, Refresh
from store.events.leads import (
    ConflictsFound,
    FirstOutreachLogged,
    LeadAccepted,
    LeadCardsChanged,
    LeadDeclined,
    LeadHandedOff,
)
from store.views import ConflictRef, LeadView  # noqa: F401 - the read models this module renders

STAGE_LABELS = {
    "handed_off": "Waiting for the owner to accept",
    "accepted": "Accepted",
    "contacted": "Contacted",
    "qualified": "Qualified",
    "proposal": "Proposal",
    "negotiation": "Negotiation",
    "closed_won": "Closed won",
    "closed_lost": "Closed lost",
    "declined": "Declined",
}
DIRECTION_LABELS = {"to_partner": "To the partner", "from_partner": "From the partner"}


# --- the modal --------------------------------------------------------------------------------

def handoff_modal(*, company: str = "", product_lines: list[str] | tuple[str, ...] = (), channel_id: str | None = None) -> dict:
    product_line = (
        StaticSelectElement(action_id=Ids.INPUT, placeholder="Choose a product line",
                            options=[Option(text=p, value=p) for p in product_lines[:100]])
        if product_lines
        else PlainTextInputElement(action_id=Ids.INPUT, max_length=120, placeholder="e.g. Analytics")
    )
    blocks = [
        input_block(Ids.PARTNER, "Partner",
                    ExternalDataSelectElement(action_id=Ids.PARTNER_SEARCH, placeholder="Type to search partners",
                                              min_query_length=0),
                    hint="Start typing the partner's name."),
        input_block(Ids.DIRECTION, "Direction",
                    RadioButtonsElement(action_id=Ids.INPUT, options=[Option(text=v, value=k) for k, v in DIRECTION_LABELS.items()],
                                        initial_option=Option(text=DIRECTION_LABELS["to_partner"], value="to_partner"))),
        input_block(Ids.COMPANY, "Company",
                    PlainTextInputElement(action_id=Ids.INPUT, max_length=200, initial_value=company or None,
                                          placeholder="The customer's company")),
        input_block(Ids.DOMAIN, "Company website or domain",
                    PlainTextInputElement(action_id=Ids.INPUT, max_length=253, placeholder="acme.com"),
                    optional=True, hint="Used to spot two partners registering the same customer."),
        input_block(Ids.CONTACT_NAME, "Contact name", PlainTextInputElement(action_id=Ids.INPUT, max_length=200), optional=True),
        input_block(Ids.CONTACT_EMAIL, "Contact email", EmailInputElement(action_id=Ids.INPUT, placeholder="name@company.com"), optional=True),
        input_block(Ids.CONSENT, "Consent",
                    CheckboxesElement(action_id=Ids.INPUT, options=[Option(value="yes", text="The contact agreed to their details being shared with the partner")]),
                    optional=True, hint="Required before contact details go to a partner."),
        input_block(Ids.PROBLEM, "Pressing problem",
                    PlainTextInputElement(action_id=Ids.INPUT, multiline=True, max_length=2000,
                                          placeholder="What the customer needs solved, and by when")),
        input_block(Ids.VALUE_PROPOSITION, "Partner value proposition",
                    PlainTextInputElement(action_id=Ids.INPUT, multiline=True, max_length=2000,
                                          placeholder="Why this partner is the right fit"), optional=True),
        input_block(Ids.NEXT_STEPS, "Next steps",
                    PlainTextInputElement(action_id=Ids.INPUT, multiline=True, max_length=2000,
                                          placeholder="What was agreed with the customer")),
        input_block(Ids.ESTIMATED_VALUE, "Estimated value",
                    PlainTextInputElement(action_id=Ids.INPUT, max_length=20, placeholder="25000"), optional=True),
        input_block(Ids.PRODUCT_LINE, "Product line", product_line, optional=True),
        input_block(Ids.PRIMARY_OWNER, "Primary owner",
                    UserSelectElement(action_id=Ids.INPUT, placeholder="Who acts on this lead"),
                    hint="They get the lead with Accept and Decline buttons."),
        input_block(Ids.BACKUP_OWNER, "Backup owner",
                    UserSelectElement(action_id=Ids.INPUT, placeholder="Who steps in if the owner can't"), optional=True),
    ]
    view = View(type="modal", callback_id=Ids.MODAL, title="Hand off a lead", submit="Hand off", close="Cancel",
                blocks=blocks, private_metadata=json.dumps({"channel_id": channel_id}) if channel_id else None)
    return view.to_dict()


def decline_modal(view: LeadView) -> dict:
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=f"Decline *{view.ref}* — {escape(view.company)} from <@{view.sender_id}>?")),
        input_block(Ids.REASON, "Why are you declining?",
                    PlainTextInputElement(action_id=Ids.INPUT, multiline=True, max_length=1000,
                                          placeholder="e.g. Outside our territory — try the EMEA team"),
                    hint="The sender sees this, so they can find another owner."),
    ]
    return View(type="modal", callback_id=Ids.DECLINE_MODAL, title="Decline lead", submit="Decline",
                close="Cancel", blocks=blocks, private_metadata=json.dumps({"lead_id": view.id})).to_dict()


# --- cards and notices --------------------------------------------------------------------------

def _facts(view: LeadView, *, show_contact: bool) -> list[dict]:
    company = escape(view.company) + (f" ({escape(view.domain)})" if view.domain else "")
    if show_contact and (view.contact_name or view.contact_email):
        contact = " · ".join(escape(x) for x in (view.contact_name, view.contact_email) if x)
    elif view.contact_name or view.contact_email:
        contact = "_shared with the owner only_"
    else:
        contact = "_not given_"
    fields = [
        f"*Partner*\n{escape(view.partner)} ({escape(view.partner_tier)})",
        f"*Direction*\n{DIRECTION_LABELS.get(view.direction, view.direction)}",
        f"*Company*\n{company}",
        f"*Contact*\n{contact}",
        f"*Estimated value*\n{money(view.estimated_value)}",
        f"*Product line*\n{escape(view.product_line) if view.product_line else '_not given_'}",
    ]
    # Slack allows 2,000 characters per field; escaping can lengthen user text.
    blocks = [b.fields([truncate(f, 1990) for f in fields])]
    for label, text in (("Pressing problem", view.problem), ("Partner value proposition", view.value_proposition),
                        ("Next steps", view.next_steps)):
        if text:
            blocks.append(b.section(f"*{label}*\n{truncate(escape(text), 2900)}"))
    return blocks


def stage_label(view: LeadView) -> str:
    if view.stage in ("handed_off", "declined"):
        return STAGE_LABELS[view.stage]
    return view.stage_name or STAGE_LABELS.get(view.stage, view.stage)


def _clocks(view: LeadView) -> str:
    owners = f"Owner {user(view.primary_owner_id)}" + (f" · backup {user(view.backup_owner_id)}" if view.backup_owner_id else "")
    if view.stage_lead and view.stage not in ("handed_off", "declined"):
        owners += f" · {view.stage_lead}"
    if view.stage == "handed_off":
        return f"{owners}\n:hourglass_flowing_sand: Accept by *{when(view.accept_by, view.zone)}* · first outreach by *{when(view.first_outreach_by, view.zone)}*"
    if view.stage in ("accepted",) and not view.first_outreach_at:
        return f"{owners}\n:hourglass_flowing_sand: First outreach by *{when(view.first_outreach_by, view.zone)}*"
    return owners


def status_line(view: LeadView) -> str | None:
    parts = []
    if view.accepted_by:
        parts.append(f":white_check_mark: Accepted by {user(view.accepted_by)} {when(view.accepted_at, view.zone)}")
    if view.declined_by:
        parts.append(f":x: Declined by {user(view.declined_by)} {when(view.declined_at, view.zone)}: "
                     f"“{truncate(escape(view.decline_reason), 500)}”")
    if view.qualification_score is not None:
        parts.append(f":bar_chart: Qualification score {view.qualification_score:.0f}/100")
    if view.stage == "closed_won":
        parts.append(":trophy: Closed won" + (f" — {money(view.closed_amount)}" if view.closed_amount is not None else ""))
    if view.stage == "closed_lost":
        parts.append(":heavy_minus_sign: Closed lost" + (f": “{truncate(escape(view.close_reason), 500)}”" if view.close_reason else ""))
    if view.first_outreach_at:
        late = view.first_outreach_at > view.first_outreach_by
        parts.append(f":telephone_receiver: First outreach logged by {user(view.first_outreach_logged_by)} "
                     f"{when(view.first_outreach_at, view.zone)}" + (" — after the deadline" if late else " — on time"))
    return "\n".join(parts) or None


def lead_card(view: LeadView, *, audience: str = "owner") -> dict[str, Any]:
    """The lead card. `owner`: with the buttons that fit the stage. `channel`: a notice, no buttons.
    `former`: the copy of someone the lead passed away from — no buttons, and where it went."""
    verb = "handed" if view.direction == "to_partner" else "brought"
    title = f"{view.ref} · {view.company}"
    intro = (f"{user(view.sender_id)} {verb} you a lead" if audience == "owner"
             else f"{user(view.sender_id)} handed off a lead to {user(view.primary_owner_id)}")
    blocks: list = [b.header(truncate(title, 150)),
                    b.section(f"{intro} · *{stage_label(view)}*")]
    blocks += _facts(view, show_contact=audience == "owner" or view.consent)
    blocks.append(b.context(_clocks(view)))
    if view.conflicts:
        listed = _conflict_list(view.conflicts)
        blocks.append(b.section(truncate(f":warning: *Possible conflict* with {listed}. The partner managers have been told.", 2900)))
    line = status_line(view)
    if line:
        blocks.append(b.section(line))
    if audience == "former":
        blocks.append(b.context(f":arrow_right: This lead passed to {user(view.primary_owner_id)}; nothing more to do here."))
    if audience == "owner":
        buttons = _buttons(view)
        if buttons:
            blocks.append(b.actions(buttons, block_id=Ids.ACTIONS_BLOCK))
    text = f"{view.ref} · {view.company} — {stage_label(view)}"
    return {"text": truncate(escape(text), 3000), "blocks": blocks}


def _conflict_list(conflicts) -> str:
    return "; ".join(f"{c.ref} ({escape(truncate(c.partner, 80))}, {user(c.owner_id)})" for c in conflicts[:10])


OPEN_DEAL_STAGES_EXCLUDED = ("handed_off", "declined", "closed_won", "closed_lost")


def _buttons(view: LeadView) -> list[dict]:
    value = str(view.id)
    if view.stage == "handed_off":
        return [b.button("Accept", Ids.ACCEPT, value, style="primary"),
                b.button("Decline", Ids.DECLINE, value, style="danger"),
                b.button("Escalate", EscalationIds.OPEN, f"lead:{view.id}")]
    buttons = []
    if view.stage == "accepted" and not view.first_outreach_at:
        buttons.append(b.button("Log first outreach", Ids.LOG_OUTREACH, value, style="primary"))
    if view.stage not in OPEN_DEAL_STAGES_EXCLUDED:
        buttons.append(b.button("Update stage", DealIds.UPDATE_STAGE, value))
        buttons.append(b.button("Escalate", EscalationIds.OPEN, f"lead:{view.id}"))
    return buttons


def sender_confirmation(view: LeadView, *, duplicates: Sequence[LeadView] = ()) -> dict[str, Any]:
    text = (f":outbox_tray: *{view.ref}* — {escape(view.company)} is with {user(view.primary_owner_id)} "
            f"({escape(view.partner)}). They have until *{when(view.accept_by, view.zone)}* to accept; "
            f"I'll tell you when they answer. See your open leads with `/handoff list`.")
    blocks = [b.section(text)]
    if view.conflicts:
        listed = _conflict_list(view.conflicts)
        blocks.append(b.section(truncate(f":warning: Possible conflict with {listed}: another partner registered this customer. "
                          "The partner managers have been told.", 2900)))
    if duplicates:
        listed = ", ".join(f"{d.ref} (from {user(d.sender_id)}, {stage_label(d).lower()})" for d in duplicates[:10])
        blocks.append(b.section(truncate(f":warning: Likely duplicate: {escape(view.partner)} already has {listed} for "
                          f"{escape(view.domain)}. Check before the partner gets the same customer twice.", 2900)))
    return {"text": f"{view.ref} handed off to {user(view.primary_owner_id)}", "blocks": blocks}


def conflict_notice(view: LeadView, others: list[LeadView]) -> dict[str, Any]:
    lines = [f"• *{o.ref}* — {escape(truncate(o.company, 100))}, {escape(truncate(o.partner, 80))}, owner {user(o.primary_owner_id)}, "
             f"handed off {when(o.created_at, o.zone)}" for o in others[:10]]
    text = (f":warning: *Possible channel conflict* on *{escape(view.domain)}*: {user(view.sender_id)} just handed off "
            f"*{view.ref}* — {escape(view.company)} with {escape(view.partner)} (owner {user(view.primary_owner_id)}), "
            f"and within the protection window this customer was already registered as:\n" + "\n".join(lines)
            + "\nDecide which partner keeps the deal and tell both owners.")
    escalate = b.actions([b.button("Escalate for a ruling", EscalationIds.OPEN, f"conflict:{view.id}")])
    return {"text": f"Possible conflict: {view.ref} and " + ", ".join(o.ref for o in others),
            "blocks": [b.section(truncate(text, 3000)), escalate]}


def accepted_notice(view: LeadView) -> dict[str, Any]:
    text = (f":white_check_mark: {user(view.accepted_by)} accepted *{view.ref}* — {escape(view.company)} "
            f"({escape(view.partner)}). First outreach is due by *{when(view.first_outreach_by, view.zone)}*.")
    return {"text": f"{view.ref} accepted", "blocks": [b.section(text)]}


def declined_notice(view: LeadView) -> dict[str, Any]:
    text = (f":x: {user(view.declined_by)} declined *{view.ref}* — {escape(view.company)} ({escape(view.partner)}): "
            f"“{truncate(escape(view.decline_reason), 1000)}”\nHand it to someone else with `/handoff {escape(view.company)}`.")
    return {"text": f"{view.ref} declined", "blocks": [b.section(text)]}


def leads_list(views: list[LeadView], *, total: int, user_id: str) -> dict[str, Any]:
    if not views:
        return {"text": "You have no open leads. Hand one off with `/handoff`.", "response_type": "ephemeral"}
    blocks: list = [b.header(f"Your open leads ({total})")]
    for v in views[:30]:
        role = ("owner" if v.primary_owner_id == user_id else "backup" if v.backup_owner_id == user_id else "sent by you")
        line = (f"*{v.ref}* — {escape(v.company)} · {escape(v.partner)} · {stage_label(v)} · _{role}_\n"
                + _clocks(v).replace("\n", " · "))
        section = b.section(truncate(line, 3000))
        if v.stage == "handed_off" and user_id in (v.primary_owner_id, v.backup_owner_id):
            section = b.section(truncate(line, 3000),
                                   accessory=b.button("Accept", Ids.ACCEPT, str(v.id), style="primary"))
        elif v.stage not in OPEN_DEAL_STAGES_EXCLUDED and user_id in (v.primary_owner_id, v.backup_owner_id):
            section = b.section(truncate(line, 3000), accessory=b.button("Update stage", DealIds.UPDATE_STAGE, str(v.id)))
        blocks.append(section)
    if total > len(views[:30]):
        blocks.append(b.context(f"Showing the {len(views[:30])} most urgent of {total}."))
    return {"text": f"Your open leads ({total})", "response_type": "ephemeral", "blocks": blocks}


def partner_options(partners: list[tuple[int, str, str]]) -> dict[str, Any]:
    """Options for the type-ahead: (id, name, tier). Slack shows at most 100."""
    # Plain dicts: building 100 slack_sdk Option objects costs ~6 ms on a path Slack times.
    return {"options": [{"text": {"type": "plain_text", "text": truncate(f"{name} ({tier})", 75)}, "value": str(pid)}
                        for pid, name, tier in partners[:100]]}


# --- what lead events mean for Slack (messages.events) ------------------------------------------

CARD_KINDS = ("lead_card", "lead_notice")  # the copies of a lead's card: owner DM, partner channel


def refresh_cards(view: LeadView) -> Refresh:
    """Every copy of a lead's card, current: the channel's notice, the owners' cards with buttons, and
    a copy sent to someone who no longer owns the lead (it passed to the backup) without them."""
    def render(row) -> dict:
        if row.kind == "lead_notice":
            return lead_card(view, audience="channel")
        owners = (view.primary_owner_id, view.backup_owner_id)
        return lead_card(view, audience="owner" if row.audience in owners or row.audience is None else "former")

    return Refresh(subject=("lead", view.id), kinds=CARD_KINDS, render=render)


def on_handed_off(event: LeadHandedOff) -> list[Post | Refresh]:
    """The owner's card (Accept / Decline), the sender's confirmation, the partner channel's notice."""
    view = event.lead
    subject = ("lead", view.id)
    said = [
        Post(channel=view.primary_owner_id, message=lead_card(view, audience="owner"), kind="lead_card",
             subject=subject, audience=view.primary_owner_id),
        Post(channel=view.sender_id, message=sender_confirmation(view, duplicates=event.duplicates),
             kind="sender_confirmation", subject=subject, audience=view.sender_id),
    ]
    if event.partner_channel_id:
        said.append(Post(channel=event.partner_channel_id, message=lead_card(view, audience="channel"),
                         kind="lead_notice", subject=subject, audience=event.partner_channel_id))
    return said


def on_conflicts_found(event: ConflictsFound) -> list[Post | Refresh]:
    """One notice to each partner manager of the leads involved (the new lead's first), about the new lead."""
    managers = dict.fromkeys(v.partner_manager_id for v in (event.lead, *event.others) if v.partner_manager_id)
    if not managers:
        return []
    message = conflict_notice(event.lead, list(event.others))
    return [Post(channel=manager, message=message, kind="conflict_notice", subject=("lead", event.lead.id),
                 audience=manager) for manager in managers]


def on_cards_changed(event: LeadCardsChanged) -> list[Post | Refresh]:
    return [refresh_cards(view) for view in event.leads]


def on_accepted(event: LeadAccepted) -> list[Post | Refresh]:
    view = event.lead
    said = [refresh_cards(view)]
    if view.sender_id != event.by:
        said.append(Post(channel=view.sender_id, message=accepted_notice(view), kind="lead_accepted",
                         subject=("lead", view.id), audience=view.sender_id))
    return said


def on_declined(event: LeadDeclined) -> list[Post | Refresh]:
    view = event.lead
    return [refresh_cards(view),
            Post(channel=view.sender_id, message=declined_notice(view), kind="lead_declined",
                 subject=("lead", view.id), audience=view.sender_id)]


def on_first_outreach(event: FirstOutreachLogged) -> list[Post | Refresh]:
    return [refresh_cards(event.lead)]


RENDERERS = {
    LeadHandedOff: on_handed_off,
    ConflictsFound: on_conflicts_found,
    LeadCardsChanged: on_cards_changed,
    LeadAccepted: on_accepted,
    LeadDeclined: on_declined,
    FirstOutreachLogged: on_first_outreach,
}

