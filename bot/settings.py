"""Settings from the environment (and a `.env` file beside the process), checked at start with
messages that say what to set.

pydantic-settings reads them: `SLACK_BOT_TOKEN`, `SLACK_SIGNING_SECRET`, `SLACK_APP_TOKEN`,
`SLACK_API_URL`, `DATABASE_URL`, `PLAYBOOK_PATH`, `PORT`, `PUBLIC_URL`. Tokens and the signing secret
are `SecretStr`: a repr, a log line or a traceback shows `**********`, never the value; the one place
that needs a value asks for it with `.get_secret_value()`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from store.db import DEFAULT_DATABASE_URL, normalise_database_url

SLACK_DEFAULT_API_URL = "https://slack.com/api/"


class SettingsError(ValueError):
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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True, hide_input_in_errors=True)

    slack_bot_token: SecretStr = SecretStr("")
    slack_signing_secret: SecretStr = SecretStr("")
    slack_app_token: SecretStr = SecretStr("")
    slack_api_url: str = SLACK_DEFAULT_API_URL
    database_url: str = Field(DEFAULT_DATABASE_URL, repr=False)  # it may hold a password
    playbook_path: str | None = None
    port: Any = 3000
    public_url: str = "https://partnerbot.example.com"

    @field_validator("slack_bot_token", "slack_signing_secret", "slack_app_token", mode="before")
    @classmethod
    def _stripped(cls, value):
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        return SecretStr((value or "").strip())

    @field_validator("slack_api_url", mode="before")
    @classmethod
    def _api_url(cls, value):
        return _slack_api_url((value or "").strip() or SLACK_DEFAULT_API_URL)

    @field_validator("database_url", mode="before")
    @classmethod
    def _database_url(cls, value):
        try:
            url = normalise_database_url(value)
        except Exception as error:  # noqa: BLE001 - SQLAlchemy's ArgumentError and friends
            raise SettingsError(
                f"DATABASE_URL is not a database URL ({error}). Use sqlite:///partnerbot.db or "
                "postgresql://user:password@host:5432/dbname.") from None
        if not url.startswith(("sqlite:", "postgresql+psycopg:")):
            raise SettingsError(
                f"DATABASE_URL must be SQLite or Postgres (got a {url.split(':', 1)[0]}:// URL). Use "
                "sqlite:///partnerbot.db or postgresql://user:password@host:5432/dbname.")
        return url

    @field_validator("playbook_path", mode="before")
    @classmethod
    def _playbook_path(cls, value):
        return value or None

    @field_validator("port", mode="before")
    @classmethod
    def _port(cls, value):
        text = str(value if value not in (None, "") else 3000).strip()
        try:
            port = int(text)
        except ValueError:
            raise SettingsError(f"PORT must be a number, like 3000 (got {text!r}).") from None
        if not 1 <= port <= 65535:
            raise SettingsError(f"PORT must be between 1 and 65535 (got {port}).")
        return port

    @field_validator("public_url", mode="before")
    @classmethod
    def _public_url(cls, value):
        return (value or "https://partnerbot.example.com").rstrip("/")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """The settings from this environment (default: the process's, and `.env`); a SettingsError
        naming the variable if one is malformed."""
        try:
            if env is None:
                return cls()
            fields = {name.upper(): name for name in cls.model_fields}
            return cls.model_validate({fields[k.upper()]: v for k, v in env.items() if k.upper() in fields})
        except ValidationError as error:
            raise _first_problem(error) from None

    @property
    def bot_token(self) -> str:
        return self.slack_bot_token.get_secret_value()

    @property
    def signing_secret(self) -> str:
        return self.slack_signing_secret.get_secret_value()

    @property
    def app_token(self) -> str:
        return self.slack_app_token.get_secret_value()

    def require_slack(self, *, socket_mode: bool = False, signing_secret: bool = True) -> None:
        missing = []
        if not self.bot_token:
            missing.append("SLACK_BOT_TOKEN (the Bot User OAuth Token, xoxb-…, from OAuth & Permissions)")
        elif not self.bot_token.startswith("xoxb-"):
            raise SettingsError("SLACK_BOT_TOKEN must be a bot token starting with xoxb- (from OAuth & Permissions).")
        if socket_mode:
            if not self.app_token:
                missing.append("SLACK_APP_TOKEN (an app-level token, xapp-…, with connections:write, from Basic Information)")
            elif not self.app_token.startswith("xapp-"):
                raise SettingsError("SLACK_APP_TOKEN must be an app-level token starting with xapp-.")
        elif signing_secret and not self.signing_secret:
            missing.append("SLACK_SIGNING_SECRET (from Basic Information → App Credentials)")
        if missing:
            raise SettingsError("Set these environment variables before starting:\n  " + "\n  ".join(missing))


def _first_problem(error: ValidationError) -> SettingsError:
    for problem in error.errors():
        cause = (problem.get("ctx") or {}).get("error")
        if isinstance(cause, SettingsError):
            return cause
    problem = error.errors()[0]
    name = ".".join(str(part) for part in problem.get("loc", ())).upper()
    return SettingsError(f"{name}: {problem.get('msg')}")


