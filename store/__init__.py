"""store/ keeps state and decides: models, Alembic migrations, the playbook, business hours, the one
clock (store/clock.py), read models (store/views.py), and the operations that change state.

An operation is one transaction: it changes rows, writes its audit event, and says what happened as
plain domain events (store/events/), which the recorder `bot/` wires turns into outbox rows before the
commit. Who may do what lives in store/permissions.py.

May import: the standard library, SQLAlchemy, Alembic, PyYAML, pydantic, and itself.
May not import: messages/, bot/, handlers/, scheduling/, slack_sdk, slack_bolt (import-linter checks
it). What it needs of Slack it states as small protocols (store.outbox.Sender,
store.slack_users.Directory, store.escalations.Resolver) that bot/'s adapter fulfils.
"""
