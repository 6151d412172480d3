"""The one place typed domain errors become words a Slack user reads.

Every listener is registered through `answered()`. A DomainError (not allowed, already done, not
found) becomes an ephemeral reply to the person who acted; anything else is logged with its
traceback and the person is told that nothing they entered was lost. Work a listener
defers until after its answer (Services.after) is answered the same way (run_answered).

The app runs Bolt with process_before_response=True: the listener runs in the request's thread
and Slack gets its answer when the listener returns, instead of Bolt polling every 10 ms for
ack(). So listeners ack, then hand everything that can wait (Slack calls, delivery, decisions
taken on a click) to Services.after().
"""

from __future__ import annotations

import inspect
import logging

from store.errors import DomainError

log = logging.getLogger("partnerbot")

SORRY = (":warning: Something went wrong on our side and that did not go through. Nothing you entered "
         "was lost — try again in a minute, and if it keeps failing tell your partnerbot admin.")


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


def handle_error(error: Exception, body: dict, respond, logger=None) -> None:
    """Bolt's global error handler, for errors raised outside listeners (middleware)."""
    if isinstance(error, DomainError):
        tell(body, respond, str(error))
    else:
        (logger or log).exception("unhandled error", exc_info=error)
        tell(body, respond, SORRY)


def run_answered(work, body: dict | None, respond, name: str, client=None) -> None:
    try:
        work()
    except DomainError as refusal:
        tell(body, respond, str(refusal), client)
    except Exception:  # noqa: BLE001 - logged with its traceback, and the user is told
        log.exception("%s failed", name)
        tell(body, respond, SORRY, client)


def answered(listener):
    """Wrap a listener so its refusals and failures are answered in one way."""
    wanted = inspect.getfullargspec(listener).args

    def run(ack, body, action, view, command, payload, client, respond, context, logger):
        given = {"ack": ack, "body": body, "action": action, "view": view, "command": command, "payload": payload,
                 "client": client, "respond": respond, "context": context, "logger": logger}
        try:
            return listener(**{name: given[name] for name in wanted})
        except DomainError as refusal:
            tell(body, respond, str(refusal), client)
        except Exception:  # noqa: BLE001 - logged with its traceback, and the user is told
            log.exception("listener %s failed", listener.__name__)
            tell(body, respond, SORRY, client)
        return None

    run.__name__ = listener.__name__
    run.__qualname__ = listener.__qualname__
    return run
