"""The one Slack adapter: every Web API call partnerbot makes on its own goes through `Slack`.

- outbox delivery: `send(row, original)` posts, edits or uploads one outbox row, and turns Slack's
  refusals into `store.outbox.NotSent` (permanent or not, rate-limited with its Retry-After);
- the directory: `profile(user_id)` (users.info, for time zones) and `group_members(group_id)`
  (usergroups.users.list, for approvers named as user groups);
- the App Home: `publish_home(user_id, view)` (views.publish).

The retry policy lives here too (`RETRY_HANDLERS`): slack_sdk's own handlers retry a 5xx answer and a
dropped connection once; there is no rate-limit handler, because sleeping a Retry-After inside a
listener thread would stall it — a 429 leaves the message in the outbox with its retry time instead.
Bolt's per-request client (modals a listener opens, `respond`) is built with the same policy by
`bot.app.create_app`.

`store/` never imports this module: it states what it needs as small protocols (store.outbox.Sender,
store.slack_users.Directory, store.escalations.Resolver), and `bot.compose` hands it this adapter.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, ServerErrorRetryHandler

from store.escalations import ApproversUnavailable, expand_approvers
from store.outbox import NotSent

TIMEOUT_SECONDS = 10

# Errors that retrying will not cure: the row is marked failed (kept, listed by `partnerbot outbox`).
PERMANENT_ERRORS = frozenset(
    {
        "invalid_blocks",
        "invalid_arguments",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "msg_too_long",
        "no_text",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "missing_scope",
        "user_not_found",
        "cannot_dm_bot",
        "message_not_found",
        "cant_update_message",
    }
)


def retry_handlers() -> list:
    """slack_sdk's retry handlers, the same for every client partnerbot builds."""
    return [ConnectionErrorRetryHandler(max_retry_count=1), ServerErrorRetryHandler(max_retry_count=1)]


def make_client(settings) -> WebClient:
    """The Web API client for these settings (token, SLACK_API_URL), with the one retry policy."""
    return WebClient(token=settings.bot_token, base_url=settings.slack_api_url, timeout=TIMEOUT_SECONDS,
                     retry_handlers=retry_handlers())


class Slack:
    """partnerbot's side of Slack's Web API, over one `WebClient`."""

    def __init__(self, client: WebClient):
        self.client = client

    @classmethod
    def from_settings(cls, settings) -> "Slack":
        return cls(make_client(settings))

    # --- outbox delivery -------------------------------------------------------------------------

    def send(self, row, original) -> tuple[str | None, str | None]:
        """Send one outbox row; where it landed (channel, ts — a file's id for an upload).

        `original` is the posted message an edit (chat.update) changes. Slack's refusals become
        NotSent; anything else (a timeout after the retry) is left to the outbox to keep and retry."""
        message = dict(row.payload)
        try:
            if row.method == "files.upload_v2":
                # payload: filename, title, initial_comment, content_base64 (an image made by the clock)
                content = base64.b64decode(message.pop("content_base64"))
                response = self.client.files_upload_v2(channel=row.channel, content=content, **message)
                return row.channel, (response.get("file") or {}).get("id")
            if row.method == "chat.update":
                response = self.client.chat_update(channel=original.result_channel, ts=original.result_ts, **message)
            else:
                response = self.client.chat_postMessage(channel=row.channel, **message)
        except SlackApiError as error:
            raise _not_sent(error) from error
        return response.get("channel") or row.channel, response.get("ts")

    # --- the directory ---------------------------------------------------------------------------

    def profile(self, user_id: str) -> dict[str, Any]:
        """users.info's `user` (tz, real_name…). Raises on any failure: the caller keeps what it had."""
        return self.client.users_info(user=user_id)["user"]

    def group_members(self, group_id: str) -> list[str]:
        """The user ids in a user group (usergroups.users.list). Raises SlackApiError on a refusal."""
        return list(self.client.usergroups_users_list(usergroup=group_id).get("users") or [])

    def resolve_approvers(self, entries: Sequence[str]) -> list[str]:
        """An escalation level's approvers (store.escalations.Resolver): each user group (S…) replaced by
        its members. Slack not answering is ApproversUnavailable, which the request form shows inline."""
        groups: dict[str, list[str]] = {}
        for group in (e for e in entries if e.startswith("S")):
            try:
                groups[group] = self.group_members(group)
            except SlackApiError as error:
                raise ApproversUnavailable(group, (error.response or {}).get("error") or "Slack error") from error
            except OSError as error:  # connection refused, timeout
                raise ApproversUnavailable(group, type(error).__name__) from error
        return expand_approvers(entries, groups)

    # --- the App Home ----------------------------------------------------------------------------

    def publish_home(self, user_id: str, view: dict) -> None:
        self.client.views_publish(user_id=user_id, view=view)


def _not_sent(error: SlackApiError) -> NotSent:
    response = error.response
    code = (response.get("error") if response is not None else None) or "unknown"
    status = getattr(response, "status_code", 200) if response is not None else 200
    retry_after = None
    if status == 429:
        headers = {k.lower(): v for k, v in (getattr(response, "headers", None) or {}).items()}
        value = headers.get("retry-after")
        if isinstance(value, list):
            value = value[0] if value else None
        try:
            retry_after = max(1.0, float(value))
        except (TypeError, ValueError):
            retry_after = None
    return NotSent(f"{status} {code}", permanent=code in PERMANENT_ERRORS and status < 500,
                   rate_limited=status == 429, retry_after=retry_after)
