"""The app factory: `create_app(settings, client=None)` builds a Bolt app and touches no network at import."""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, ServerErrorRetryHandler

from bot.errors import handle_error
from bot.middleware import BotIdentity, inject_services, mark_verified
from bot.services import Services
from bot.settings import Settings
from bot.compose import session_factory
from store.db import make_engine
from store.playbook import Playbook, default_playbook, load_playbook


def make_client(settings: Settings) -> WebClient:
    """The Web API client, with slack_sdk's retry handlers for 5xx answers and dropped connections.

    No rate-limit retry handler: it would sleep the whole Retry-After inside a listener thread.
    A 429 leaves the message in the outbox with its retry time, and the clock sends it then.
    """
    return WebClient(
        token=settings.bot_token,
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=1),
            ServerErrorRetryHandler(max_retry_count=1),
        ],
    )


def load_configured_playbook(settings: Settings) -> Playbook:
    return load_playbook(settings.playbook_path) if settings.playbook_path else default_playbook()


def build_services(settings: Settings, client: WebClient | None = None, *, playbook: Playbook | None = None, engine=None) -> Services:
    engine = engine or make_engine(settings.database_url)
    return Services(
        settings=settings,
        playbook=playbook or load_configured_playbook(settings),
        engine=engine,
        sessions=session_factory(engine),
        client=client or make_client(settings),
    )


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
