"""bot/ is where partnerbot meets the world: the composition root (bot/compose.py), settings
(pydantic-settings), the app factory (bot/app.py), the HTTP door and WSGI entry (bot/inbound.py,
bot/web.py), Socket Mode, middleware, the one error handler (handlers/errors.py), the one Slack adapter
(bot/slack.py: every Web API call partnerbot makes on its own, and the retry policy), the recorder
that turns domain events into outbox rows (bot/recorder.py), the CLI and the demo.

May import everything below it (handlers/, scheduling/, messages/, store/) and the slackkit/ kit (the
demo only). Nothing below imports bot/.
"""
