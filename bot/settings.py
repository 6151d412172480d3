"""Settings from the environment, checked at start with messages that say what to set."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from store.db import DEFAULT_DATABASE_URL, normalise_database_url

SLACK_DEFAULT_API_URL = "https://slack.com/api/"


class SettingsError(Exception):
    """A missing or malformed setting; the message names the variable and what to put there."""


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str = ""
    slack_signing_secret: str = ""
    slack_app_token: str = ""
    slack_api_url: str = SLACK_DEFAULT_API_URL
    database_url: str = DEFAULT_DATABASE_URL
    playbook_path: str | None = None
    port: int = 3000
    public_url: str = "https://partnerbot.example.com"
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        api_url = env.get("SLACK_API_URL") or SLACK_DEFAULT_API_URL
        if not api_url.endswith("/"):
            api_url += "/"
        port_text = env.get("PORT") or "3000"
        try:
            port = int(port_text)
        except ValueError:
            raise SettingsError(f"PORT must be a number, like 3000 (got {port_text!r}).") from None
        if not 1 <= port <= 65535:
            raise SettingsError(f"PORT must be between 1 and 65535 (got {port}).")
        try:
            database_url = normalise_database_url(env.get("DATABASE_URL"))
        except Exception as error:  # noqa: BLE001 - SQLAlchemy's ArgumentError and friends
            raise SettingsError(
                f"DATABASE_URL is not a database URL ({error}). Use sqlite:///partnerbot.db or "
                "postgresql://user:password@host:5432/dbname."
            ) from None
        return cls(
            slack_bot_token=env.get("SLACK_BOT_TOKEN", "").strip(),
            slack_signing_secret=env.get("SLACK_SIGNING_SECRET", "").strip(),
            slack_app_token=env.get("SLACK_APP_TOKEN", "").strip(),
            slack_api_url=api_url,
            database_url=database_url,
            playbook_path=env.get("PLAYBOOK_PATH") or None,
            port=port,
            public_url=(env.get("PUBLIC_URL") or "https://partnerbot.example.com").rstrip("/"),
        )

    def require_slack(self, *, socket_mode: bool = False) -> None:
        missing = []
        if not self.slack_bot_token:
            missing.append("SLACK_BOT_TOKEN (the Bot User OAuth Token, xoxb-…, from OAuth & Permissions)")
        elif not self.slack_bot_token.startswith("xoxb-"):
            raise SettingsError("SLACK_BOT_TOKEN must be a bot token starting with xoxb- (from OAuth & Permissions).")
        if socket_mode:
            if not self.slack_app_token:
                missing.append("SLACK_APP_TOKEN (an app-level token, xapp-…, with connections:write, from Basic Information)")
            elif not self.slack_app_token.startswith("xapp-"):
                raise SettingsError("SLACK_APP_TOKEN must be an app-level token starting with xapp-.")
        elif not self.slack_signing_secret:
            missing.append("SLACK_SIGNING_SECRET (from Basic Information → App Credentials)")
        if missing:
            raise SettingsError("Set these environment variables before starting:\n  " + "\n  ".join(missing))
