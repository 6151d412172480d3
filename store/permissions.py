"""Who may do what: the one place decisions are authorised. Store operations call these before
they change anything; a refusal is a NotAllowed that names who can (as store.errors.Words: the people
in it are Person parts, which Slack shows as mentions)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.errors import NotAllowed, Person, Typed, Words
from store.models import Partner
from store.playbook import Playbook


def _names(user_ids: Iterable[str]) -> Words:
    """People named as a list (A; A or B; A, B or C), or "an admin of the playbook" when there is nobody."""
    people = [Person(u) for u in dict.fromkeys(u for u in user_ids if u)]
    if not people:
        return Words("an admin of the playbook")
    parts: list = []
    for index, person in enumerate(people):
        if index:
            parts.append(" or " if index == len(people) - 1 else ", ")
        parts.append(person)
    return Words(*parts)


def require_one_of(user_id: str, allowed: Iterable[str], *, playbook: Playbook | None = None,
                   doing: str, why: str = "", admins_too: bool = False) -> None:
    """Pass if `user_id` is among `allowed` (or an admin, when `admins_too`); else refuse, naming who can."""
    allowed = tuple(u for u in allowed if u)
    if user_id in allowed:
        return
    if admins_too and playbook is not None and playbook.is_admin(user_id):
        return
    who = list(allowed) + (list(playbook.admins) if admins_too and playbook is not None else [])
    raise NotAllowed(Words("Only ", _names(who), f" can {doing}", f" — {why}." if why else "."))


def lead_owners(lead) -> tuple[str, ...]:
    return tuple(u for u in (lead.primary_owner_id, lead.backup_owner_id) if u)


def require_lead_owner(lead, user_id: str, *, doing: str, playbook: Playbook | None = None, admins_too: bool = False) -> None:
    require_one_of(user_id, lead_owners(lead), playbook=playbook, doing=f"{doing} {lead.ref}",
                   why="they own it", admins_too=admins_too)


def require_action_owner(action, user_id: str, *, doing: str, playbook: Playbook) -> None:
    """The owner, the person who created it, or an admin."""
    require_one_of(user_id, (action.owner_id, action.created_by), playbook=playbook,
                   doing=f"{doing} {action.ref}", why="it is theirs", admins_too=True)


def require_approver(escalation, user_id: str, *, playbook: Playbook, level_name: str) -> None:
    """Only the current level's approvers and the playbook's admins decide."""
    if user_id == escalation.requester_id and user_id in (escalation.approver_ids or ()) and not playbook.is_admin(user_id):
        others = [u for u in escalation.approver_ids or () if u != user_id]
        raise NotAllowed(Words(f"You raised {escalation.ref}, so you can't decide it — ", _names(others), " can."))
    require_one_of(user_id, escalation.approver_ids or (), playbook=playbook,
                   doing=f"decide {escalation.ref}", why=f"it is with {level_name} now", admins_too=True)


def manages_a_partner(session: Session, user_id: str) -> bool:
    return session.scalar(select(Partner.id).where(Partner.manager_id == user_id).limit(1)) is not None


def require_partner_editor(session: Session, user_id: str, *, playbook: Playbook, partner: Partner | None = None) -> None:
    """Who may add partners from Slack (`partner` None) or change one, by the playbook's
    `partners.editors`: `admins_and_managers` (the default) lets the admins and anyone who manages
    a partner add, and a partner's own manager change it; `admins` the admins only; `everyone` anyone.
    The command line (`partnerbot import partners`) is the operators' and is not limited."""
    rule = playbook.partners.editors
    if rule == "everyone" or playbook.is_admin(user_id):
        return
    managers = rule == "admins_and_managers"
    if managers and partner is None and manages_a_partner(session, user_id):
        return
    if managers and partner is not None and partner.manager_id and partner.manager_id == user_id:
        return
    doing = Words("add partners") if partner is None else Words("change ", Typed(partner.name))
    admins = Words("the playbook's admins (", _names(playbook.admins), ")") if playbook.admins \
        else Words("the playbook's admins (it lists none yet)")
    if not managers:
        who = admins
    elif partner is None:
        who = Words("partner managers and ", admins)
    else:
        own = Words("its partner manager (", _names([partner.manager_id]), ")") if partner.manager_id \
            else Words("its partner manager")
        who = Words(own, " and ", admins)
    why = " — a partner's tier and manager set its SLAs and who hears of its leads."
    ask = " Ask one of them." if playbook.admins or managers else ""
    if not playbook.admins:
        ask += (" To get started, list your Slack member id under `admins` in the playbook, or import "
                "partners with `partnerbot import partners`.")
    raise NotAllowed(Words("Only ", who, " can ", doing, why, ask))
