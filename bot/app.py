"""The app factory: `create_app(settings, client=None)` builds a Bolt app and touches no network at import."""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_sdk import WebClient

from bot.compose import build_services
from handlers.errors import handle_error
from bot.middleware import BotIdentity, inject_services, mark_verified
from bot.services import Services
from bot.settings import Settings


def create_app(settings: Settings, client: WebClient | None = None, *, services: Services | None = None) -> App:
    """The Bolt app. It makes no Slack call while it is built: the bot's identity is learned later
    (bot.middleware.BotIdentity), so a start or a worker restart during a Slack outage serves."""
    from handlers import register_all

    services = services or build_services(settings, client)
    shared = services.client
    identity = BotIdentity(shared)
    app = App(
        # Bolt copies this client for each request and sets the token that `authorize` returns on the
        # copy; with a token on the client itself Bolt would insist on its own auth.test.
        client=WebClient(token=None, base_url=shared.base_url, timeout=shared.timeout, headers=shared.headers,
                         retry_handlers=list(shared.retry_handlers or [])),
        authorize=identity,
        signing_secret=settings.signing_secret,
        process_before_response=True,  # answer when the listener returns; slow work goes to Services.after
        logger=logging.getLogger("partnerbot.bolt"),
    )
    app.use(mark_verified)
    app.use(inject_services(services))
    app.error(handle_error)
    register_all(app)
    app.services = services  # for the web entry point's health check and for tests
    app.identity = identity
    return app
