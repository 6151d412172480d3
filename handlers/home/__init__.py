"""The App Home tab, published when a person opens it."""

from slack_bolt import App

from messages.home import home_view
from store import handoffs


def opened(ack, event, client, context) -> None:
    ack()
    if event.get("tab") != "home":
        return
    services = context["services"]
    user_id = event["user"]

    def work() -> None:
        with services.sessions() as session:
            leads, total = handoffs.open_leads_for(session, user_id, limit=25)
            listed = handoffs.lead_views(session, leads, services.playbook)
        client.views_publish(user_id=user_id, view=home_view(listed, total=total, user_id=user_id))

    services.after(work)


def register(app: App) -> None:
    app.event("app_home_opened")(opened)
