"""slackkit: Slack played locally, for the tests, ``partnerbot demo``, the benchmarks and the coming
sandbox. It stands on Slack's side of the wire and knows nothing of partnerbot.

- ``slackkit.blockkit``  - the Block Kit checker: Slack's limits on a message's or a view's blocks;
- ``slackkit.webapi``    - the Web API stand-in (``SlackStandin``): an HTTP server on loopback that
  ``slack_sdk.WebClient`` talks to, answering and refusing as Slack does, and recording every call;
- ``slackkit.signing``   - the request signer: Slack's ``v0`` HMAC-SHA256 signature and timestamp;
- ``slackkit.simulator`` - a user played against a running app (``SlackSimulator``: commands,
  clicks, selects, submissions, type-ahead, shaped and signed as Slack sends them) and
  ``LocalServer``, which serves a WSGI app on loopback for it.

May: use the standard library (and slack_sdk in its tests). May not: import the product packages
(``bot``, ``handlers``, ``scheduling``, ``store``, ``messages``) - an import-linter contract in
pyproject.toml checks it, and another keeps the product's layers from importing the kit; only
``bot`` (the ``partnerbot demo`` command) imports it, deliberately, so the wheel ships it.
"""
