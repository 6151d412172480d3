"""The one place typed domain errors become words a Slack user reads."""

from __future__ import annotations

import logging

from store.errors import DomainError

log = logging.getLogger("partnerbot")

SORRY = (":warning: Something went wrong on our side and that did not go through. Nothing you entered "
         "was lost — try again in a minute, and if it keeps failing tell your partnerbot admin.")


def handle_error(error: Exception, body: dict, respond, logger=None) -> None:
    if isinstance(error, DomainError):
        message = str(error)
    else:
        (logger or log).exception("unhandled error in a listener", exc_info=error)
        message = SORRY
    if body and body.get("response_url"):
        respond(text=message, response_type="ephemeral", replace_original=False)
