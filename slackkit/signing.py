"""Slack's request signing, as Slack does it when it calls an app: what lets a test's request pass
Bolt's verification, and a forged or stale one fail it.

The rules it follows (docs.slack.dev, "Verifying requests from Slack"):

- every request carries ``X-Slack-Request-Timestamp`` (whole seconds since the epoch, from the
  sender's clock) and ``X-Slack-Signature``;
- the signature is ``v0=`` followed by the hex HMAC-SHA256, keyed with the app's signing secret, of
  the base string ``v0:<timestamp>:<raw request body>`` - the body's exact bytes, before any parsing;
- a receiver refuses a timestamp more than five minutes from its own clock (replays), so the
  default timestamp is the machine's wall clock, which is the clock Bolt checks against.

Stdlib only; ``slack_sdk.signature.SignatureVerifier`` accepts what it signs (tests/test_slackkit.py).
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["VERSION", "RequestSigner", "signature"]

VERSION = "v0"


def signature(signing_secret: str, timestamp: str | int, body: str | bytes) -> str:
    """``v0=<hex HMAC-SHA256 of "v0:<timestamp>:<body>">`` keyed with the signing secret."""
    raw = body.encode() if isinstance(body, str) else body
    base = f"{VERSION}:{timestamp}:".encode() + raw
    return f"{VERSION}=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


class RequestSigner:
    """Signs request bodies with one app's signing secret."""

    def __init__(self, signing_secret: str):
        if not signing_secret:
            raise ValueError("a signing secret is needed to sign requests")
        self._secret = signing_secret

    def headers(self, body: str | bytes, *, timestamp: int | None = None, signature_override: str | None = None
                ) -> dict[str, str]:
        """The two headers Slack sends with `body`: its timestamp (now, unless given: a test can send a
        stale one) and its signature (or `signature_override`, to send a forged one)."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        sig = signature_override or signature(self._secret, ts, body)
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}
