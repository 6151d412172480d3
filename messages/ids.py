"""Callback, action and block ids: one enum per feature, used by builders and by register()."""

from __future__ import annotations

from enum import StrEnum


class Handoff(StrEnum):
    COMMAND = "/handoff"
    MODAL = "handoff_submit"
    DECLINE_MODAL = "handoff_decline_submit"
    # block ids of the handoff modal are the field names of the form
    PARTNER = "partner"
    DIRECTION = "direction"
    COMPANY = "company"
    DOMAIN = "domain"
    CONTACT_NAME = "contact_name"
    CONTACT_EMAIL = "contact_email"
    CONSENT = "consent"
    PROBLEM = "problem"
    VALUE_PROPOSITION = "value_proposition"
    NEXT_STEPS = "next_steps"
    ESTIMATED_VALUE = "estimated_value"
    PRODUCT_LINE = "product_line"
    PRIMARY_OWNER = "primary_owner"
    BACKUP_OWNER = "backup_owner"
    REASON = "reason"
    # action ids
    INPUT = "value"  # the one element inside each input block
    PARTNER_SEARCH = "partner_search"
    ACCEPT = "lead_accept"
    DECLINE = "lead_decline"
    LOG_OUTREACH = "lead_log_outreach"
    ACTIONS_BLOCK = "lead_actions"


class Partner(StrEnum):
    COMMAND = "/partner"
    MODAL = "partner_add_submit"
    NAME = "name"
    TYPE = "type"
    TIER = "tier"
    MARKET = "market"
    PRODUCT_LINES = "product_lines"
    CHANNEL = "channel_id"
    MANAGER = "manager_id"
    INPUT = "value"


class Deal(StrEnum):
    """Working a lead after it is accepted: stages, closing, debrief."""

    UPDATE_STAGE = "deal_update_stage"        # button on the lead card and in /handoff list; value = lead id
    STAGE_MODAL = "deal_stage_submit"
    QUALIFY_MODAL = "deal_qualify_submit"
    CLOSE_MODAL = "deal_close_submit"
    DEBRIEF = "deal_debrief"                  # button in the debrief request; value = lead id
    DEBRIEF_MODAL = "deal_debrief_submit"
    STAGE = "stage"
    NOTE = "note"
    CHECKLIST = "checklist"
    AMOUNT = "amount"
    REASON = "reason"
    WHAT_WORKED = "what_worked"
    WHAT_DID_NOT = "what_did_not"
    INPUT = "value"
    STAGE_PICK = "deal_stage_pick"            # the stage select in the modal (dispatch_action: shows that stage's fields)
    QUESTION = "question"                     # block ids of qualification questions: "question_<key>"


class Action(StrEnum):
    COMMAND = "/action"
    MODAL = "action_submit"
    DONE = "action_done"                      # value = action id
    DONE_MODAL = "action_done_submit"
    SNOOZE = "action_snooze"                  # overflow/static select; value = "<id>:1d" | "<id>:1w" | "<id>:date"
    SNOOZE_MODAL = "action_snooze_submit"
    REASSIGN = "action_reassign"
    REASSIGN_MODAL = "action_reassign_submit"
    TITLE = "title"
    OWNER = "owner"
    DUE = "due_date"
    SUCCESS = "success_criteria"
    IMPACT = "impact_estimate"
    PRIORITY = "priority"
    LINK = "link"
    OUTCOME = "outcome"
    UNTIL = "until"
    INPUT = "value"
    LINK_SEARCH = "action_link_search"        # external select over partners, leads and issues
    ACTIONS_BLOCK = "action_actions"          # the card's buttons


class Issue(StrEnum):
    MODAL = "issue_submit"
    CATEGORY = "category"
    DESCRIPTION = "description"
    IMPACT = "impact_estimate"
    COHORT = "cohort"
    ROOT_CAUSE = "root_cause"
    INPUT = "value"


class Escalation(StrEnum):
    COMMAND = "/escalate"
    OPEN = "escalate_open"                    # button on lead cards, action cards, conflict notices; value = "lead:<id>" | "action:<id>" | ""
    MODAL = "escalation_submit"
    APPROVE = "escalation_approve"            # value = "<escalation id>:<level>"
    REJECT = "escalation_reject"
    RESPOND = "escalation_respond"            # static select of predefined responses; value = "<id>:<level>:<index>"
    DECIDE_MODAL = "escalation_decide_submit"
    WITHDRAW = "escalation_withdraw"
    ABOUT = "about"
    KIND = "kind"
    REASON = "reason"
    SEVERITY = "severity"
    IMPACT = "impact"
    RESPONSE = "response"
    NOTE = "note"
    INPUT = "value"
    ACTIONS_BLOCK = "escalation_actions"


class Home(StrEnum):
    FILTERS_BLOCK = "home_filters"
    FILTER_TYPE = "home_filter_type"          # static selects; value = the choice or "*" for any
    FILTER_TIER = "home_filter_tier"
    FILTER_MARKET = "home_filter_market"
    FILTER_PRODUCT_LINE = "home_filter_product_line"
    FILTER_PERIOD = "home_filter_period"
    PAGES_BLOCK = "home_pages"
    PAGE_PREVIOUS = "home_page_previous"      # buttons; value = the page to show (0-based). Two ids, as
    PAGE_NEXT = "home_page_next"              # Slack refuses one action_id twice in the paging row
    PAGE = "home_page"                        # the one id both had before: still handled, for Homes on screen
    SCORECARD = "home_scorecard"              # button; value = "<partner id>|<period>"
