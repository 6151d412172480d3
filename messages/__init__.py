"""messages/ turns data into what Slack shows: Block Kit builders (slack_sdk's models), modal and block
ids (messages/ids.py, one StrEnum per feature), Jinja2 prose, charts, and the renderers that say what
each domain event means for Slack (messages/events.py: event -> Post / Refresh instructions).

Pure functions of the read models and events store/ hands it; every piece of user text is escaped
(messages/text.py). May import: store's read models, events, constants and playbook (plain data),
slack_sdk's models, Jinja2, matplotlib. May not: open a session (store.db, SQLAlchemy), call Slack,
or import bot/, handlers/, scheduling/.
"""
