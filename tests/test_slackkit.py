"""slackkit's request signer signs as Slack does: slack_sdk's verifier (the one Bolt runs) accepts
what it signs, and refuses the same request altered, stale or signed with another secret."""

from __future__ import annotations

import time

from slack_sdk.signature import SignatureVerifier

from slackkit.signing import RequestSigner, signature

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BODY = "token=x&team_id=T0PARTNER&command=%2Fhandoff&text=Acme+%E2%82%AC&trigger_id=1.trigger"


def test_slack_sdk_accepts_what_the_signer_signs():
    headers = RequestSigner(SECRET).headers(BODY)
    assert SignatureVerifier(SECRET).is_valid_request(BODY, headers)
    assert SignatureVerifier(SECRET).is_valid_request(BODY.encode(), headers)  # the raw bytes, as Bolt reads them


def test_the_signature_is_slacks_documented_example():
    # docs.slack.dev, "Verifying requests from Slack": this secret, timestamp and body give this signature
    body = ("token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
            "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
            "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
            "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
    assert signature(SECRET, 1531420618, body) == \
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_an_altered_body_a_stale_timestamp_or_another_secret_is_refused():
    verifier = SignatureVerifier(SECRET)
    headers = RequestSigner(SECRET).headers(BODY)
    assert not verifier.is_valid_request(BODY + "&user_id=U0INTRUDER", headers)
    stale = RequestSigner(SECRET).headers(BODY, timestamp=int(time.time()) - 6 * 60)
    assert not verifier.is_valid_request(BODY, stale)
    assert not verifier.is_valid_request(BODY, RequestSigner("another-secret").headers(BODY))


def test_a_test_can_forge_the_signature_on_purpose():
    headers = RequestSigner(SECRET).headers(BODY, signature_override="v0=" + "0" * 64)
    assert headers["X-Slack-Signature"] == "v0=" + "0" * 64
    assert not SignatureVerifier(SECRET).is_valid_request(BODY, headers)
