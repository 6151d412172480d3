"""Settings from the environment, checked at start with messages that say what to set."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from store.db import DEFAULT_DATABASE_URL, normalise_database_url

SLACK_DEFAULT_API_URL = "https://slack.com/api/"


class SettingsError(Exception):
    """A missing or malformed setting; the message names the variable and what to put there."""


def _slack_api_url(url: str) -> str:
    """https:// only: the bot token goes with every call. http:// is for a stand-in on this machine."""
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname or ""
    except ValueError:  # e.g. an unclosed [ of an IPv6 address
        scheme, host = "", ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not host or not (scheme == "https" or (scheme == "http" and loopback)):
        raise SettingsError(f"SLACK_API_URL must be an https:// URL, like {SLACK_DEFAULT_API_URL} (got {url!r}): the "
                            "bot token travels with every call. http:// is only for a stand-in on this machine "
                            "(localhost, 127.0.0.1, [::1]).")
    return url if url.endswith("/") else url + "/"


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
        api_url = _slack_api_url(env.get("SLACK_API_URL") or SLACK_DEFAULT_API_URL)
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
