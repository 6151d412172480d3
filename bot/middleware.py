"""Global middleware: hand each listener the app's services through Bolt's context."""

from __future__ import annotations

from bot.services import Services


def inject_services(services: Services):
    def middleware(context, next):  # noqa: A002 - Bolt's argument name
        context["services"] = services
        next()

    return middleware
