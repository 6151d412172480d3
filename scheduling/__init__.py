"""scheduling/ is the clock: the process that runs every job on an APScheduler interval and drains the
outbox (scheduling/clock.py), and the jobs (scheduling/jobs/), which only find what is due at
`ctx.now` and call store/ operations or record reminders rendered by messages/.

It is handed its services (sessions, playbook, the Slack adapter, the deliver-and-refresh path) by
bot/'s composition root. May import: messages/, store/, APScheduler. May not import: bot/, handlers/,
or call Slack except through what it is handed.
"""
