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
