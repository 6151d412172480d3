"""The Slack app manifest: one paste creates the app with its commands, scopes and App Home."""

from __future__ import annotations

import yaml

COMMANDS = [
    ("/handoff", "Hand a lead to a partner or take one from them", "[company] | list | help"),
    ("/partner", "Add and list the partners you co-sell with", "add [name] | list [filter] | issue NAME | issues NAME | history REF | help"),
    ("/action", "Create and track the actions that improve a partnership", "[title] | list [@person | partner NAME] | help"),
    ("/escalate", "Ask a manager to decide: discount, exception, conflict, SLA breach", "[what it is about | L-1001 | A-1001] | help"),
]
ESCAPED_COMMANDS = {"/action"}
BOT_SCOPES = ["commands", "chat:write", "chat:write.public", "im:write", "users:read", "usergroups:read", "files:write"]


def manifest(url: str = "https://partnerbot.example.com", *, socket_mode: bool = False) -> dict:
    url = url.rstrip("/")
    events = f"{url}/slack/events"
    commands = []
    for name, description, hint in COMMANDS:
        # /action list @person needs Slack to send the mention as <@U…|name>; the others take free text.
        command = {"command": name, "description": description, "usage_hint": hint,
                   "should_escape": name in ESCAPED_COMMANDS}
        if not socket_mode:
            command["url"] = events
        commands.append(command)
    interactivity = {"is_enabled": True}
    event_subscriptions = {"bot_events": ["app_home_opened"]}
    if not socket_mode:
        interactivity.update(request_url=events, message_menu_options_url=events)
        event_subscriptions["request_url"] = events
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": "partnerbot",
            "description": "Runs your partner co-selling playbook: handoffs, owners, clocks, escalations.",
            "background_color": "#1d3557",
        },
        "features": {
            "app_home": {"home_tab_enabled": True, "messages_tab_enabled": True, "messages_tab_read_only_enabled": False},
            "bot_user": {"display_name": "partnerbot", "always_online": True},
            "slash_commands": commands,
        },
        "oauth_config": {"scopes": {"bot": BOT_SCOPES}},
        "settings": {
            "event_subscriptions": event_subscriptions,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }


def manifest_yaml(url: str = "https://partnerbot.example.com", *, socket_mode: bool = False) -> str:
    header = ("# Slack app manifest for partnerbot. Create the app at api.slack.com/apps → Create New App →\n"
              "# From an app manifest, and paste this. Regenerate for your URL with: partnerbot manifest --url URL\n")
    return header + yaml.safe_dump(manifest(url, socket_mode=socket_mode), sort_keys=False, width=120)
