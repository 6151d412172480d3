"""Registered in handlers/__init__.py; built in issue 3."""

from slack_bolt import App


def register(app: App) -> None:
    """Filled in as the feature lands."""
