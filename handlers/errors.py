"""The one place typed domain errors and failures become words a Slack user reads.

Every listener is registered through `answered()`, and every listener answers Slack in every
outcome. A DomainError (not allowed, already done, not found) is a refusal; anything else is a
failure, logged with its traceback (a database that does not answer is named as such). How the
person hears of it depends on where they are:

- a modal's Submit: an inline error on the form's first input (`response_action: errors`), so the
  form stays open with everything typed in it ("…not saved. Your form is kept: try Submit again");
  a form without inputs gets a small view pushed on top that says the same;
- a type-ahead: one option whose text says what went wrong;
- a slash command not yet acknowledged: the acknowledgement itself, privately;
- anything else (buttons, or after the acknowledgement): an ephemeral reply on the response_url,
  or a DM from the App Home, which has none.

Work a listener defers until after its answer (Services.after) is answered the same way
(run_answered). Bolt's global error handler (`handle_error`, for errors outside listeners) answers
only requests that passed verification (bot.middleware.mark_verified): nothing of an unverified
request — least of all its response_url — is ever used.

The app runs Bolt with process_before_response=True: the listener runs in the request's thread
and Slack gets its answer when the listener returns, instead of Bolt polling every 10 ms for
ack(). So listeners ack, then hand everything that can wait (Slack calls, delivery, decisions
taken on a click) to Services.after().
"""

from __future__ import annotations

import inspect
import logging

from sqlalchemy import exc as db_errors

import messages.words  # noqa: F401 - how refusals name people and times in Slack (store.errors.words_for)
from store.errors import DomainError, ValidationFailed

# Set in the request's context by bot.middleware.mark_verified once Bolt has checked the signature.
VERIFIED = "partnerbot_verified"

log = logging.getLogger("partnerbot")

SORRY = (":warning: Something went wrong on our side and that did not go through. Nothing you entered "
         "was lost — try again in a minute, and if it keeps failing tell your partnerbot admin.")
DATABASE_DOWN = (":warning: The database is not answering, so that did not go through and nothing changed. "
                 "Try again in a minute; if it keeps failing, tell your partnerbot admin.")
FORM_SORRY = ("Something went wrong on our side and this was not saved. Your form is kept: try Submit again, "
              "and if it keeps failing tell your partnerbot admin.")
FORM_DATABASE_DOWN = ("The database is not answering, so this was not saved. Your form is kept: "
                      "try Submit again in a minute.")
SEARCH_SORRY = "Search failed on our side — type again in a minute"  # option text: 75 characters at most
SEARCH_DATABASE_DOWN = "The database is not answering — type again in a minute"
UNAVAILABLE = "unavailable"  # that option's value: no store reads it as a choice


def database_down(error: BaseException) -> bool:
    """A failure to reach the database (refused, gone, timed out, locked), not a bug in a query."""
    return isinstance(error, (db_errors.OperationalError, db_errors.InterfaceError, db_errors.TimeoutError)) or (
        isinstance(error, db_errors.DBAPIError) and error.connection_invalidated)


def tell(body: dict | None, respond, message: str, client=None) -> None:
    """Answer the person who acted: in place (response_url) where Slack gave one; from the App
    Home, which has none, in a DM from the app."""
    if body and body.get("response_url") and respond is not None:
        respond(text=message, response_type="ephemeral", replace_original=False)
    elif body and client is not None and (body.get("view") or {}).get("type") == "home":
        user_id = (body.get("user") or {}).get("id")
        if user_id:
            try:
                client.chat_postMessage(channel=user_id, text=message)
            except Exception:  # noqa: BLE001 - telling them failed too; the log has both
                log.exception("could not tell %s: %s", user_id, message)


def handle_error(error: Exception, body: dict, respond, context, response=None, logger=None) -> None:
    """Bolt's global error handler, for errors raised outside listeners (middleware, routing)."""
    if not context.get(VERIFIED):
        # Raised before the request was verified: nothing of it is used, not even to apologise.
        log.warning("refused a request that failed before verification (%s)", type(error).__name__)
        if response is not None:
            response.status, response.body = 401, '{"error": "invalid request"}'
        return
    if isinstance(error, DomainError):
        tell(body, respond, str(error))
    else:
        (logger or log).exception("unhandled error", exc_info=error)
        tell(body, respond, DATABASE_DOWN if database_down(error) else SORRY)


def run_answered(work, body: dict | None, respond, name: str, client=None) -> None:
    try:
        work()
    except DomainError as refusal:
        tell(body, respond, str(refusal), client)
    except Exception as error:  # noqa: BLE001 - logged with its traceback, and the user is told
        log.exception("%s failed", name)
        tell(body, respond, DATABASE_DOWN if database_down(error) else SORRY, client)


def answered(listener):
    """Wrap a listener so its refusals and failures are answered in one way, and Slack always
    gets an answer (a listener that raised before its ack() is acknowledged here)."""
    wanted = inspect.getfullargspec(listener).args

    def run(ack, body, action, view, command, payload, client, respond, context, logger):
        given = {"ack": ack, "body": body, "action": action, "view": view, "command": command, "payload": payload,
                 "client": client, "respond": respond, "context": context, "logger": logger}
        try:
            return listener(**{name: given[name] for name in wanted})
        except DomainError as refusal:
            _answer_refusal(refusal, ack, body, respond, client)
        except Exception as error:  # noqa: BLE001 - logged with its traceback, and the user is told
            log.exception("listener %s failed", listener.__name__)
            _answer_failure(database_down(error), ack, body, respond, client)
        return None

    run.__name__ = listener.__name__
    run.__qualname__ = listener.__qualname__
    return run


def _acked(ack) -> bool:
    return getattr(ack, "response", None) is not None


def _answer_refusal(refusal: DomainError, ack, body: dict, respond, client) -> None:
    if not _acked(ack):
        kind = body.get("type")
        if kind == "view_submission":
            if isinstance(refusal, ValidationFailed) and refusal.errors:
                ack(response_action="errors", errors=refusal.errors)
            else:
                ack(**form_error(body.get("view") or {}, str(refusal)))
            return
        if kind == "block_suggestion":
            ack(options=[])
            return
        if "command" in body:
            ack(text=str(refusal), response_type="ephemeral")
            return
        ack()
    tell(body, respond, str(refusal), client)


def _answer_failure(down: bool, ack, body: dict, respond, client) -> None:
    if not _acked(ack):
        kind = body.get("type")
        if kind == "view_submission":
            ack(**form_error(body.get("view") or {}, FORM_DATABASE_DOWN if down else FORM_SORRY))
            return
        if kind == "block_suggestion":
            text = SEARCH_DATABASE_DOWN if down else SEARCH_SORRY
            ack(options=[{"text": {"type": "plain_text", "text": text}, "value": UNAVAILABLE}])
            return
        if "command" in body:
            ack(text=DATABASE_DOWN if down else SORRY, response_type="ephemeral")
            return
        ack()
    tell(body, respond, DATABASE_DOWN if down else SORRY, client)


def form_error(view: dict, message: str) -> dict:
    """A view_submission answer that keeps the form open and shows `message`: inline on its first
    input block; pushed on top in a small view when the form has no input to point at."""
    block_id = _first_input(view)
    if block_id is not None:
        return {"response_action": "errors", "errors": {block_id: message}}
    return {"response_action": "push", "view": {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Not saved"},
        "close": {"type": "plain_text", "text": "Back to the form"},
        "blocks": [{"type": "section", "text": {"type": "plain_text", "text": message}}],
    }}


def _first_input(view: dict) -> str | None:
    for block in view.get("blocks") or []:
        if isinstance(block, dict) and block.get("type") == "input" and isinstance(block.get("block_id"), str):
            return block["block_id"]
    values = (view.get("state") or {}).get("values") or {}
    return next((key for key in values if isinstance(key, str) and key), None)
