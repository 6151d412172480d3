"""Who may do what: the one place decisions are authorised. Store operations call these before
they change anything; a refusal is a NotAllowed that names who can."""

from __future__ import annotations

from collections.abc import Iterable

from store.errors import NotAllowed
from store.playbook import Playbook


def _names(user_ids: Iterable[str]) -> str:
    people = [f"<@{u}>" for u in dict.fromkeys(u for u in user_ids if u)]
    if not people:
        return "an admin of the playbook"
    return people[0] if len(people) == 1 else ", ".join(people[:-1]) + " or " + people[-1]


def require_one_of(user_id: str, allowed: Iterable[str], *, playbook: Playbook | None = None,
                   doing: str, why: str = "", admins_too: bool = False) -> None:
    """Pass if `user_id` is among `allowed` (or an admin, when `admins_too`); else refuse, naming who can."""
    allowed = tuple(u for u in allowed if u)
    if user_id in allowed:
        return
    if admins_too and playbook is not None and playbook.is_admin(user_id):
        return
    who = list(allowed) + (list(playbook.admins) if admins_too and playbook is not None else [])
    raise NotAllowed(f"Only {_names(who)} can {doing}" + (f" — {why}." if why else "."))


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
        raise NotAllowed(f"You raised {escalation.ref}, so you can't decide it — {_names(others)} can.")
    require_one_of(user_id, escalation.approver_ids or (), playbook=playbook,
                   doing=f"decide {escalation.ref}", why=f"it is with {level_name} now", admins_too=True)
