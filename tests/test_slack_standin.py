"""Tests for slackkit.webapi (and the Block Kit checks it runs), driven through a real slack_sdk.WebClient."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from slackkit.webapi import Call, SlackStandin

TOKEN = "xoxb-test-token"

# Several tests leave out `text` on purpose; slack_sdk warns about that client-side.
pytestmark = pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing:UserWarning")


@pytest.fixture(scope="module")
def server():
    with SlackStandin(TOKEN) as standin:
        yield standin


@pytest.fixture
def slack(server):
    server.reset()
    server.users.clear()
    server.usergroups.clear()
    yield server
    server.reset()


@pytest.fixture
def client(slack):
    return WebClient(token=TOKEN, base_url=slack.url, timeout=5)


def section(text="hello", block_id=None, **extra):
    block = {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}
    if block_id is not None:
        block["block_id"] = block_id
    return block


def button(text="Go", action_id="go", value="v", text_type="plain_text"):
    return {"type": "button", "text": {"type": text_type, "text": text}, "action_id": action_id, "value": value}


def actions(*elements, block_id=None):
    block = {"type": "actions", "elements": list(elements)}
    if block_id:
        block["block_id"] = block_id
    return block


def option(i):
    return {"text": {"type": "plain_text", "text": f"opt {i}"}, "value": f"v{i}"}


def modal(blocks=None, title="Partner handoff", **extra):
    view = {"type": "modal", "title": {"type": "plain_text", "text": title}, "blocks": blocks or [section()]}
    view.update(extra)
    return view


def input_block(label="Owner", label_type="plain_text", block_id="owner"):
    return {
        "type": "input",
        "block_id": block_id,
        "label": {"type": label_type, "text": label},
        "element": {"type": "plain_text_input", "action_id": "owner_input"},
    }


def rejected(call, *args, **kwargs) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        call(*args, **kwargs)
    return info.value


def post_blocks(client, blocks):
    return client.chat_postMessage(channel="C1", text="fallback", blocks=blocks)


def assert_invalid_blocks(client, blocks, reason_fragment):
    err = rejected(post_blocks, client, blocks)
    assert err.response.status_code == 200
    assert err.response["error"] == "invalid_blocks"
    messages = err.response["response_metadata"]["messages"]
    assert all(m.startswith("[ERROR] ") for m in messages)
    assert any(reason_fragment in m for m in messages), messages
    return messages


def open_modal(client, view):
    return client.views_open(trigger_id="123.456.abc", view=view)


def assert_invalid_view(client, view, reason_fragment):
    err = rejected(open_modal, client, view)
    assert err.response["error"] == "invalid_arguments"
    messages = err.response["response_metadata"]["messages"]
    assert any(reason_fragment in m for m in messages), messages
    return messages


# --------------------------------------------------------------------------
# Transport, tokens and request decoding
# --------------------------------------------------------------------------


def test_url_is_a_webclient_base_url(slack):
    assert slack.url.startswith("http://127.0.0.1:")
    assert slack.url.endswith("/api/")


def test_valid_token_is_accepted(client, slack):
    assert client.auth_test()["user_id"] == slack.bot_user_id
    assert slack.calls_for("auth.test")[0].ok


def test_missing_token_is_not_authed(slack):
    err = rejected(WebClient(base_url=slack.url).auth_test)
    assert err.response.status_code == 200
    assert err.response["error"] == "not_authed"
    assert slack.calls_for("auth.test", ok=False)[0].error == "not_authed"


def test_wrong_token_is_invalid_auth(slack):
    err = rejected(WebClient(token="xoxb-wrong", base_url=slack.url).chat_postMessage, channel="C1", text="hi")
    assert err.response.status_code == 200
    assert err.response["error"] == "invalid_auth"
    assert slack.calls_for("chat.postMessage") == []


def raw_post(url, body: bytes, content_type: str, headers=None) -> dict:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type, **(headers or {})})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        return json.loads(response.read())


def test_token_as_form_argument_is_accepted_but_not_inside_json(slack):
    form = f"token={TOKEN}".encode()
    assert raw_post(slack.url + "auth.test", form, "application/x-www-form-urlencoded")["ok"] is True
    # Slack ignores a token inside a JSON body: JSON requests must use the Authorization header.
    body = json.dumps({"token": TOKEN}).encode()
    assert raw_post(slack.url + "auth.test", body, "application/json") == {"ok": False, "error": "not_authed"}
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert raw_post(slack.url + "auth.test", b"{}", "application/json", bearer)["ok"] is True


def test_unknown_method(client):
    err = rejected(client.api_call, "reactions.add", params={"channel": "C1", "name": "tada"})
    assert err.response["error"] == "unknown_method"


def test_form_body_json_fields_are_decoded(client, slack):
    blocks = [section("from a form")]
    client.api_call("chat.postMessage", params={"channel": "C1", "blocks": json.dumps(blocks)})
    call = slack.calls_for("chat.postMessage")[0]
    assert call.args["blocks"] == blocks
    assert "token" not in call.args


def test_form_body_view_is_decoded_and_validated(client, slack):
    client.api_call("views.open", params={"trigger_id": "1.2.3", "view": json.dumps(modal())})
    assert slack.calls_for("views.open")[0].args["view"]["type"] == "modal"
    too_long = modal(title="x" * 25)
    err = rejected(client.api_call, "views.open", params={"trigger_id": "1.2.3", "view": json.dumps(too_long)})
    assert err.response["error"] == "invalid_arguments"


def test_query_string_arguments_are_read(client, slack):
    slack.users["U7"] = {"real_name": "Query Person"}
    # users_info sends its arguments in the query string (http_verb="GET").
    assert client.users_info(user="U7")["user"]["real_name"] == "Query Person"


def test_unparseable_blocks_are_rejected(client):
    err = rejected(client.api_call, "chat.postMessage", params={"channel": "C1", "blocks": "[not json"})
    assert err.response["error"] == "invalid_blocks"


def test_latency_delays_answers():
    with SlackStandin(TOKEN, latency=0.2) as slow:
        started = time.monotonic()
        WebClient(token=TOKEN, base_url=slow.url).auth_test()
        assert time.monotonic() - started >= 0.2


# --------------------------------------------------------------------------
# chat.*
# --------------------------------------------------------------------------


def test_post_message_to_user_answers_dm_channel(client, slack):
    response = client.chat_postMessage(channel="U123", text="hi")
    assert response["channel"] == "DU123"
    assert response["message"]["text"] == "hi"
    assert ("DU123", response["ts"]) in slack.messages
    assert client.chat_postMessage(channel="W9", text="hi")["channel"] == "DW9"
    assert client.chat_postMessage(channel="C42", text="hi")["channel"] == "C42"


def test_post_message_ts_are_unique_and_increasing(client):
    stamps = [client.chat_postMessage(channel="C1", text=str(i))["ts"] for i in range(5)]
    assert stamps == sorted(stamps, key=float)
    assert len(set(stamps)) == 5
    assert all(len(ts.split(".")[1]) == 6 for ts in stamps)


def test_post_message_needs_a_channel(client):
    assert rejected(client.chat_postMessage, channel="", text="hi").response["error"] == "channel_not_found"


def test_no_text_both_ways(client, slack):
    assert client.chat_postMessage(channel="C1", text="only text")["ok"]
    assert client.chat_postMessage(channel="C1", blocks=[section()])["ok"]
    assert client.chat_postMessage(channel="C1", attachments=[{"text": "att", "fallback": "att"}])["ok"]
    err = rejected(client.chat_postMessage, channel="C1")
    assert err.response["error"] == "no_text"
    err = rejected(client.chat_postMessage, channel="C1", text="", blocks=[])
    assert err.response["error"] == "no_text"
    assert [c.error for c in slack.calls_for("chat.postMessage", ok=False)] == ["no_text", "no_text"]


def test_update_known_message(client, slack):
    posted = client.chat_postMessage(channel="U5", text="before", blocks=[section("old")])
    updated = client.chat_update(channel=posted["channel"], ts=posted["ts"], text="after")
    assert updated["ts"] == posted["ts"]
    latest = slack.messages[(posted["channel"], posted["ts"])]
    assert latest["text"] == "after"
    assert latest["blocks"] == [section("old")]  # left out of the update: kept, as on Slack


def test_update_unknown_ts_is_message_not_found(client):
    client.chat_postMessage(channel="C1", text="x")
    err = rejected(client.chat_update, channel="C1", ts="1600000000.000100", text="y")
    assert err.response["error"] == "message_not_found"


def test_update_checks_payload(client):
    posted = client.chat_postMessage(channel="C1", text="x")
    err = rejected(client.chat_update, channel="C1", ts=posted["ts"], blocks=[section()] * 51)
    assert err.response["error"] == "invalid_blocks"


def test_post_ephemeral_needs_user(client, slack):
    assert client.chat_postEphemeral(channel="C1", user="U1", text="psst")["message_ts"]
    err = rejected(client.chat_postEphemeral, channel="C1", user="", text="psst")
    assert err.response["error"] == "invalid_arguments"
    err = rejected(client.chat_postEphemeral, channel="C1", user="U1")
    assert err.response["error"] == "no_text"
    assert len(slack.calls_for("chat.postEphemeral")) == 1


def test_delete(client, slack):
    posted = client.chat_postMessage(channel="C1", text="x")
    assert client.chat_delete(channel="C1", ts=posted["ts"])["ok"]
    assert ("C1", posted["ts"]) not in slack.messages
    assert rejected(client.chat_delete, channel="C1", ts=posted["ts"]).response["error"] == "message_not_found"


# --------------------------------------------------------------------------
# Block checks (messages)
# --------------------------------------------------------------------------


def test_message_block_count(client):
    assert post_blocks(client, [section(str(i)) for i in range(50)])["ok"]
    assert_invalid_blocks(client, [section(str(i)) for i in range(51)], "no more than 50")


def test_input_block_rejected_in_message_accepted_in_modal(client):
    assert_invalid_blocks(client, [input_block()], "input blocks")
    assert open_modal(client, modal([input_block()], submit={"type": "plain_text", "text": "Save"}))["ok"]


def test_duplicate_block_id(client):
    assert post_blocks(client, [section(block_id="a"), section(block_id="b")])["ok"]
    assert_invalid_blocks(client, [section(block_id="a"), section(block_id="a")], "duplicate block_id")


def test_duplicate_block_id_in_view(client):
    assert_invalid_view(client, modal([section(block_id="a"), section(block_id="a")]), "duplicate block_id")


def test_duplicate_action_id_in_one_block(client):
    """Slack: an action_id must be unique among the elements of its block (not of the message)."""
    assert post_blocks(client, [actions(button(action_id="a"), button(action_id="b"))])["ok"]
    assert post_blocks(client, [actions(button(action_id="a")), actions(button(action_id="a"))])["ok"]
    assert post_blocks(client, [section(accessory=button(action_id="a")), actions(button(action_id="a"))])["ok"]
    # elements without an action_id get one of Slack's making, never a duplicate
    unnamed = {"type": "button", "text": {"type": "plain_text", "text": "Go"}}
    assert post_blocks(client, [actions(dict(unnamed), dict(unnamed))])["ok"]
    messages = assert_invalid_blocks(client, [section(), actions(button(action_id="a"), button("x", action_id="b"),
                                                                 button(action_id="a"))], "duplicate action_id 'a'")
    assert any("json-pointer:/blocks/1/elements/2/action_id" in m for m in messages), messages


def test_duplicate_action_id_in_a_home_view_keeps_the_home_as_it_was(client, slack):
    """The App Home's paging row as it once was: ← Previous and Next → with one action_id."""
    home = {"type": "home", "blocks": [section("page 1"), actions(button("Next →", action_id="page", value="1"))]}
    stored = client.views_publish(user_id="U0123ABCD", view=home)["view"]
    page_2 = {"type": "home", "blocks": [section("page 2"), actions(button("← Previous", action_id="page", value="0"),
                                                                    button("Next →", action_id="page", value="2"))]}
    err = rejected(client.views_publish, user_id="U0123ABCD", view=page_2)
    assert err.response["error"] == "invalid_arguments"
    assert any("duplicate action_id 'page'" in m and "/view/blocks/1/elements/1/action_id" in m
               for m in err.response["response_metadata"]["messages"])
    assert slack.views[stored["id"]]["blocks"][0]["text"]["text"] == "page 1"  # Slack keeps the Home it had
    assert_invalid_view(client, modal([actions(button(action_id="x"), button(action_id="x"))]), "duplicate action_id")


@pytest.mark.parametrize("bad", [["a"], {"id": "a"}, 7])
def test_an_action_id_that_is_not_a_string_is_rejected_not_crashed_on(client, bad):
    assert_invalid_blocks(client, [actions(button(action_id=bad), button(action_id=bad))], "must be a string")


def test_elements_that_are_not_a_list_are_rejected_not_crashed_on(client):
    assert_invalid_blocks(client, [{"type": "actions", "elements": 5}], "must be an array")


def test_button_text_limit(client):
    assert post_blocks(client, [actions(button(text="x" * 75))])["ok"]
    messages = assert_invalid_blocks(client, [actions(button(text="x" * 76))], "less than 76")
    assert any("json-pointer:/blocks/0/elements/0/text/text" in m for m in messages)


def test_button_action_id_limit(client):
    assert post_blocks(client, [actions(button(action_id="a" * 255))])["ok"]
    assert_invalid_blocks(client, [actions(button(action_id="a" * 256))], "less than 256")


def test_button_value_limit(client):
    assert post_blocks(client, [actions(button(value="v" * 2000))])["ok"]
    assert_invalid_blocks(client, [actions(button(value="v" * 2001))], "less than 2001")


def test_button_text_must_be_plain_text(client):
    assert_invalid_blocks(client, [actions(button(text_type="mrkdwn"))], "plain_text")


def test_button_accessory_is_checked(client):
    assert post_blocks(client, [section(accessory=button())])["ok"]
    assert_invalid_blocks(client, [section(accessory=button(text="x" * 76))], "less than 76")


def test_static_select_options_limit(client):
    def select(n, kind="static_select"):
        element = {"type": kind, "action_id": "pick", "options": [option(i) for i in range(n)]}
        element["placeholder"] = {"type": "plain_text", "text": "Pick"}
        return section(accessory=element)

    assert post_blocks(client, [select(100)])["ok"]
    assert_invalid_blocks(client, [select(101)], "no more than 100")
    assert post_blocks(client, [select(100, "multi_static_select")])["ok"]
    assert_invalid_blocks(client, [select(101, "multi_static_select")], "no more than 100")


def test_static_select_option_groups_limit(client):
    def select(groups):
        group = {"label": {"type": "plain_text", "text": "G"}, "options": [option(1)]}
        return actions({"type": "static_select", "action_id": "pick", "option_groups": [group] * groups})

    assert post_blocks(client, [select(100)])["ok"]
    assert_invalid_blocks(client, [select(101)], "no more than 100")


@pytest.mark.parametrize("kind", ["checkboxes", "radio_buttons"])
def test_checkbox_and_radio_options_limit(client, kind):
    def block(n):
        return actions({"type": kind, "action_id": "choose", "options": [option(i) for i in range(n)]})

    assert post_blocks(client, [block(10)])["ok"]
    assert_invalid_blocks(client, [block(11)], "no more than 10")


def test_section_text_limit(client):
    assert post_blocks(client, [section("x" * 3000)])["ok"]
    assert_invalid_blocks(client, [section("x" * 3001)], "less than 3001")


def test_section_fields_limit(client):
    def fields(n, length=5):
        return {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * length}] * n}

    assert post_blocks(client, [fields(10, length=2000)])["ok"]
    assert_invalid_blocks(client, [fields(11)], "no more than 10")
    assert_invalid_blocks(client, [fields(1, length=2001)], "less than 2001")


def test_section_needs_text_or_fields(client):
    assert_invalid_blocks(client, [{"type": "section"}], "text, fields")


def test_header_limit_and_plain_text(client):
    def header(text, kind="plain_text"):
        return {"type": "header", "text": {"type": kind, "text": text}}

    assert post_blocks(client, [header("h" * 150)])["ok"]
    assert_invalid_blocks(client, [header("h" * 151)], "less than 151")
    assert_invalid_blocks(client, [header("h", kind="mrkdwn")], "plain_text")


def test_actions_elements_limit(client):
    assert post_blocks(client, [actions(*[button(action_id=f"b{i}") for i in range(25)])])["ok"]
    assert_invalid_blocks(client, [actions(*[button(action_id=f"b{i}") for i in range(26)])], "no more than 25")


def test_context_elements_limit(client):
    def context(n):
        return {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * n}

    assert post_blocks(client, [context(10)])["ok"]
    assert_invalid_blocks(client, [context(11)], "no more than 10")


def test_text_object_type_must_be_plain_text_or_mrkdwn(client):
    assert post_blocks(client, [section(), {"type": "section", "text": {"type": "plain_text", "text": "p"}}])["ok"]
    assert_invalid_blocks(client, [{"type": "section", "text": {"type": "markdown", "text": "x"}}], "text object type")


def test_unknown_block_type(client):
    assert_invalid_blocks(client, [{"type": "sectoin", "text": {"type": "mrkdwn", "text": "x"}}], "unsupported block")


def test_error_lists_reason_like_slack(client, slack):
    messages = assert_invalid_blocks(client, [section("x" * 3001)], "less than 3001")
    assert messages == ["[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]"]
    call = slack.calls_for("chat.postMessage", ok=False)[0]
    assert call.error == "invalid_blocks"


# --------------------------------------------------------------------------
# views.*
# --------------------------------------------------------------------------


def test_views_open_returns_view_id(client, slack):
    view = client.views_open(trigger_id="1.2.3", view=modal(callback_id="handoff"))["view"]
    assert view["id"].startswith("V")
    assert view["callback_id"] == "handoff"
    assert slack.views[view["id"]]["title"]["text"] == "Partner handoff"


def test_views_open_without_trigger_id(client):
    err = rejected(client.views_open, view=modal())
    assert err.response["error"] == "invalid_arguments"
    assert "trigger_id" in err.response["response_metadata"]["messages"][0]


def test_view_block_count(client):
    assert open_modal(client, modal([section(str(i)) for i in range(100)]))["ok"]
    assert_invalid_view(client, modal([section(str(i)) for i in range(101)]), "no more than 100")


def test_view_title_limit_and_plain_text(client):
    assert open_modal(client, modal(title="t" * 24))["ok"]
    assert_invalid_view(client, modal(title="t" * 25), "less than 25")
    view = modal()
    view["title"]["type"] = "mrkdwn"
    assert_invalid_view(client, view, "plain_text")
    assert_invalid_view(client, {"type": "modal", "blocks": [section()]}, "missing required field: title")


@pytest.mark.parametrize("field", ["submit", "close"])
def test_view_submit_and_close_limit(client, field):
    assert open_modal(client, modal(**{field: {"type": "plain_text", "text": "s" * 24}}))["ok"]
    assert_invalid_view(client, modal(**{field: {"type": "plain_text", "text": "s" * 25}}), "less than 25")


def test_view_private_metadata_limit(client):
    assert open_modal(client, modal(private_metadata="m" * 3000))["ok"]
    assert_invalid_view(client, modal(private_metadata="m" * 3001), "less than 3001")


def test_view_callback_id_limit(client):
    assert open_modal(client, modal(callback_id="c" * 255))["ok"]
    assert_invalid_view(client, modal(callback_id="c" * 256), "less than 256")


def test_view_input_label_must_be_plain_text(client):
    submit = {"type": "plain_text", "text": "Save"}
    assert open_modal(client, modal([input_block()], submit=submit))["ok"]
    assert_invalid_view(client, modal([input_block(label_type="mrkdwn")], submit=submit), "plain_text")


def test_modal_with_inputs_needs_submit(client):
    assert_invalid_view(client, modal([input_block()]), "submit is required")


def test_view_blocks_are_checked_like_message_blocks(client):
    assert_invalid_view(client, modal([actions(button(text="x" * 76))]), "less than 76")


def test_views_update(client, slack):
    opened = open_modal(client, modal(external_id="handoff-1"))["view"]
    by_id = client.views_update(view_id=opened["id"], view=modal(title="Updated"))["view"]
    assert by_id["id"] == opened["id"]
    assert slack.views[opened["id"]]["title"]["text"] == "Updated"
    by_external = client.views_update(external_id="handoff-1", view=modal(title="Again", external_id="handoff-1"))
    assert by_external["view"]["id"] == opened["id"]


def test_views_update_needs_a_known_view(client):
    # slack_sdk's views_update refuses to send this itself, so go through api_call.
    err = rejected(client.api_call, "views.update", json={"view": modal()})
    assert err.response["error"] == "invalid_arguments"
    assert rejected(client.views_update, view_id="VNOPE", view=modal()).response["error"] == "not_found"
    opened = open_modal(client, modal())["view"]
    err = rejected(client.views_update, view_id=opened["id"], view=modal(title="x" * 25))
    assert err.response["error"] == "invalid_arguments"


def test_views_push_needs_trigger_id(client):
    assert client.views_push(trigger_id="1.2.3", view=modal())["view"]["id"].startswith("V")
    assert rejected(client.views_push, view=modal()).response["error"] == "invalid_arguments"


def test_views_publish(client, slack):
    home = {"type": "home", "blocks": [section("welcome")]}
    first = client.views_publish(user_id="U1", view=home)["view"]
    again = client.views_publish(user_id="U1", view=home)["view"]
    assert first["id"] == again["id"]
    assert rejected(client.views_publish, user_id="", view=home).response["error"] == "invalid_arguments"
    err = rejected(client.views_publish, user_id="U1", view=modal())
    assert err.response["error"] == "invalid_arguments"
    assert "home" in err.response["response_metadata"]["messages"][0]
    big_home = {"type": "home", "blocks": [section(str(i)) for i in range(101)]}
    assert rejected(client.views_publish, user_id="U1", view=big_home).response["error"] == "invalid_arguments"


def test_views_open_rejects_home_views(client):
    assert_invalid_view(client, {"type": "home", "blocks": [section()]}, "view type must be modal")


# --------------------------------------------------------------------------
# users, conversations, usergroups, files
# --------------------------------------------------------------------------


def test_users_info_default_and_custom(client, slack):
    default = client.users_info(user="U100")["user"]
    assert default["tz"] == "America/New_York"
    assert default["tz_offset"] in (-18000, -14400)
    assert default["real_name"] == "U100"
    slack.users["U200"] = {"real_name": "Ada Partner", "tz": "Europe/London"}
    custom = client.users_info(user="U200")["user"]
    assert custom["real_name"] == "Ada Partner"
    assert custom["tz"] == "Europe/London"
    assert custom["tz_offset"] in (0, 3600)
    assert rejected(client.users_info, user="").response["error"] == "invalid_arguments"


def test_conversations_open(client):
    assert client.conversations_open(users="U1")["channel"]["id"] == "DU1"
    assert client.conversations_open(users=["U2"])["channel"]["id"] == "DU2"
    assert rejected(client.conversations_open, users=[]).response["error"] == "users_list_not_supplied"


def test_usergroups_users_list(client, slack):
    slack.usergroups["S1"] = ["U1", "U2"]
    assert client.usergroups_users_list(usergroup="S1")["users"] == ["U1", "U2"]
    assert rejected(client.usergroups_users_list, usergroup="S404").response["error"] == "no_such_subteam"


def test_files_upload_v2(client, slack):
    response = client.files_upload_v2(content="deal,owner\nacme,U1\n", filename="deals.csv", channel="C1", title="Deals")
    assert response["file"]["title"] == "Deals"
    [upload] = slack.uploads.values()
    assert upload["content"] == b"deal,owner\nacme,U1\n"
    assert upload["channel"] == "C1"
    assert slack.calls_for("files.completeUploadExternal")


def test_complete_upload_of_unknown_file(client):
    err = rejected(client.files_completeUploadExternal, files=[{"id": "F404", "title": "x"}])
    assert err.response["error"] == "file_not_found"


# --------------------------------------------------------------------------
# response_url (Bolt's respond())
# --------------------------------------------------------------------------


def test_respond_posts_are_recorded(slack):
    from slack_bolt.context.respond import Respond

    respond = Respond(response_url=slack.response_url("cmd-1"))
    result = respond(text="Handoff created", response_type="ephemeral")
    assert result.status_code == 200
    [call] = slack.wait_for("response_url")
    assert call.args["_key"] == "cmd-1"
    assert call.args["text"] == "Handoff created"
    assert call.args["response_type"] == "ephemeral"


def test_respond_payloads_are_checked(slack):
    from slack_bolt.context.respond import Respond

    respond = Respond(response_url=slack.response_url())
    assert respond(text="", blocks=[]).status_code == 400
    bad = respond(text="x", blocks=[section(block_id="a"), section(block_id="a")])
    assert bad.status_code == 400
    assert json.loads(bad.body)["error"] == "invalid_blocks"
    assert respond(delete_original=True).status_code == 200
    assert [c.error for c in slack.calls_for("response_url", ok=None)] == ["no_text", "invalid_blocks", None]


# --------------------------------------------------------------------------
# Failure injection
# --------------------------------------------------------------------------


def test_fail_next_500(client, slack):
    slack.fail_next("chat.postMessage", times=2)
    for _ in range(2):
        err = rejected(client.chat_postMessage, channel="C1", text="x")
        assert err.response.status_code == 500
    assert client.chat_postMessage(channel="C1", text="x")["ok"]
    assert [c.ok for c in slack.calls_for("chat.postMessage", ok=None)] == [False, False, True]


def test_fail_next_only_hits_its_method(client, slack):
    slack.fail_next("views.open")
    assert client.chat_postMessage(channel="C1", text="x")["ok"]
    assert rejected(open_modal, client, modal()).response.status_code == 500


def test_fail_next_429_sends_retry_after(client, slack):
    slack.fail_next("chat.postMessage", status=429, retry_after=7)
    err = rejected(client.chat_postMessage, channel="C1", text="x")
    assert err.response.status_code == 429
    assert err.response["error"] == "ratelimited"
    assert err.response.headers["Retry-After"] == "7"


def test_fail_next_429_default_retry_after_is_honoured_by_retry_handler(slack):
    slack.fail_next("chat.postMessage", status=429)
    client = WebClient(token=TOKEN, base_url=slack.url, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    started = time.monotonic()
    assert client.chat_postMessage(channel="C1", text="x")["ok"]
    assert time.monotonic() - started >= 1.0  # waited the Retry-After: 1 it was told
    assert [c.error for c in slack.calls_for("chat.postMessage", ok=None)] == ["ratelimited", None]


def test_fail_next_delay_provokes_client_timeout(slack):
    slack.fail_next("chat.postMessage", delay=1.5)
    impatient = WebClient(token=TOKEN, base_url=slack.url, timeout=0.3, retry_handlers=[])
    with pytest.raises(Exception) as info:
        impatient.chat_postMessage(channel="C1", text="x")
    assert not isinstance(info.value, SlackApiError)
    assert "timed out" in str(info.value).lower()


def test_reset_forgets_calls_messages_and_plans(client, slack):
    client.chat_postMessage(channel="C1", text="x")
    slack.fail_next("chat.postMessage")
    slack.reset()
    assert slack.calls == [] and slack.messages == {}
    assert client.chat_postMessage(channel="C1", text="x")["ok"]


def _outcomes(client, n):
    """Status of n chat.postMessage calls: 200, or the HTTP status of the failure."""
    statuses = []
    for i in range(n):
        try:
            client.chat_postMessage(channel="C1", text=f"m{i}")
            statuses.append(200)
        except SlackApiError as err:
            statuses.append(err.response.status_code)
    return statuses


def test_fail_rate_fails_about_that_share_with_429_and_500(client, slack):
    slack.fail_rate(0.3, statuses=(429, 500), seed=7)
    statuses = _outcomes(client, 200)
    failures = [s for s in statuses if s != 200]
    # 200 draws at p=0.3: mean 60, standard deviation about 6.5; 30..90 is more than 4 deviations wide
    assert 30 <= len(failures) <= 90
    assert set(failures) == {429, 500}
    assert len(slack.calls_for("chat.postMessage")) == statuses.count(200)  # only successes are ok calls
    assert client.views_open(trigger_id="t", view=modal())["ok"]  # other methods are untouched


def test_fail_rate_is_reproducible_with_a_seed_and_reset_ends_it(client, slack):
    slack.fail_rate(0.5, seed=3)
    first = _outcomes(client, 40)
    slack.reset()
    slack.fail_rate(0.5, seed=3)
    assert _outcomes(client, 40) == first
    slack.reset()
    assert _outcomes(client, 10) == [200] * 10


def test_fail_rate_429_carries_retry_after_and_bad_rates_are_refused(client, slack):
    slack.fail_rate(1.0, statuses=(429,), retry_after=9)
    err = rejected(client.chat_postMessage, channel="C1", text="x")
    assert err.response.status_code == 429 and err.response.headers["Retry-After"] == "9"
    with pytest.raises(ValueError):
        slack.fail_rate(1.5)


# --------------------------------------------------------------------------
# wait_for
# --------------------------------------------------------------------------


def test_wait_for_sees_calls_made_later(client, slack):
    def later():
        time.sleep(0.2)
        client.chat_postMessage(channel="C1", text="ping")
        client.chat_postMessage(channel="C1", text="pong")

    threading.Thread(target=later).start()
    [call] = slack.wait_for("chat.postMessage", where=lambda c: c.args["text"] == "pong", timeout=3)
    assert isinstance(call, Call) and call.args["text"] == "pong"


def test_wait_for_times_out_with_helpful_message(client, slack):
    client.chat_postMessage(channel="C1", text="ok one")
    rejected(client.chat_postMessage, channel="C1", blocks=[section()] * 51)
    started = time.monotonic()
    with pytest.raises(AssertionError) as info:
        slack.wait_for("chat.postMessage", count=2, timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 2
    message = str(info.value)
    assert "expected 2 ok call(s) of chat.postMessage" in message
    assert "found 1" in message
    assert "error=invalid_blocks" in message
    assert "ok one" in message


def test_wait_for_ignores_failed_calls(client, slack):
    rejected(client.chat_postMessage, channel="C1")
    with pytest.raises(AssertionError, match="no_text"):
        slack.wait_for("chat.postMessage", timeout=0.1)


# --------------------------------------------------------------------------
# Integration: Bolt and the command line
# --------------------------------------------------------------------------


def test_bolt_app_starts_against_standin(slack):
    from slack_bolt import App

    app = App(client=WebClient(token=TOKEN, base_url=slack.url), signing_secret="secret")
    assert app.client.base_url == slack.url
    assert slack.calls_for("auth.test")  # Bolt verified its token against the stand-in


def test_main_serves_in_the_foreground():
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "slackkit.webapi", "--port", "0", "--token", TOKEN],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/api/")
        assert WebClient(token=TOKEN, base_url=url).auth_test()["ok"]
        request = urllib.request.Request(url + "auth.test", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=5) as raw:
            assert json.loads(raw.read()) == {"ok": False, "error": "not_authed"}
    finally:
        proc.terminate()
        proc.wait(timeout=5)
