"""Global middleware and authorization.

- `BotIdentity` is the app's authorization: every request runs with the bot token from the settings.
  Who the bot is (bot id, bot user id, team) is asked of Slack (`auth.test`) in the background when
  first needed and kept; until Slack answers, requests are served without it. So nothing at start or
  on the request path waits for Slack, and a worker that starts during a Slack outage serves.
  (Bolt's own token verification calls auth.test while the app is built and fails the start.)
- `mark_verified` runs first among the app's own middleware, i.e. only after Bolt has verified the
  request's signature (HTTP) or the Socket Mode connection delivered it: the error handler reads
  the mark and never answers a request that did not get this far.
- `inject_services` hands each listener the app's services through Bolt's context.
"""

from __future__ import annotations

import logging
import threading
import time

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import Authorize
from slack_sdk import WebClient

from bot.services import Services
from handlers.errors import VERIFIED

log = logging.getLogger("partnerbot")



class BotIdentity(Authorize):
    """Bolt's `authorize`: the bot token always, the bot's ids once Slack has told them."""

    RETRY_SECONDS = 60.0

    def __init__(self, client: WebClient):
        self._token = client.token
        # Its own client: short timeout, no retries, and never the one listeners share.
        self._client = WebClient(token=client.token, base_url=client.base_url, timeout=5)
        self._known: dict | None = None
        self._lock = threading.Lock()
        self._asking = False
        self._last_try: float | None = None

    @property
    def known(self) -> dict | None:
        return self._known

    def __call__(self, *, context=None, enterprise_id=None, team_id=None, user_id=None, actor_enterprise_id=None,
                 actor_team_id=None, actor_user_id=None) -> AuthorizeResult:
        known = self._known
        if known is None:
            self._ask_in_background()
            known = {}
        return AuthorizeResult(
            enterprise_id=enterprise_id or known.get("enterprise_id"),
            team_id=team_id or known.get("team_id"),
            bot_token=self._token,
            bot_id=known.get("bot_id"),
            bot_user_id=known.get("user_id"),
            user_id=user_id,
        )

    def _ask_in_background(self) -> None:
        now = time.monotonic()  # an interval between tries, not a time of day
        with self._lock:
            if self._asking or (self._last_try is not None and now - self._last_try < self.RETRY_SECONDS):
                return
            self._asking, self._last_try = True, now
        threading.Thread(target=self._ask, name="partnerbot-auth-test", daemon=True).start()

    def _ask(self) -> None:
        try:
            answer = self._client.auth_test()
            self._known = {key: answer.get(key) for key in ("team_id", "enterprise_id", "bot_id", "user_id")}
        except Exception as error:  # noqa: BLE001 - Slack down or slow: served without the ids, asked again later
            log.warning("Slack's auth.test did not answer (%s); serving without the bot's ids for now",
                        str(error).splitlines()[0][:200] if str(error) else type(error).__name__)
        finally:
            with self._lock:
                self._asking = False


def mark_verified(context, next):  # noqa: A002 - Bolt's argument name
    context[VERIFIED] = True
    next()


def inject_services(services: Services):
    def middleware(context, next):  # noqa: A002 - Bolt's argument name
        context["services"] = services
        next()

    return middleware
