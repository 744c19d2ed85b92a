"""The console in a real browser: a tenant waits for a person, an officer answers, then hands back.

Drives Debian's Chromium (/usr/bin/chromium) through Playwright; `./test.sh`
installs it when missing and run as root. No Rasa is needed: the tenant's
messages here are ones the service answers itself, and the handoff is made
directly, as the dialogue would make it.
"""

import shutil
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright
from sqlalchemy import select

from service.handoff import request_handoff
from store.db import transaction
from store.models import Conversation
from tests.console_factories import PASSWORD, create_officer, get_conversation
from tests.factories import LONDON, create_operative, create_tenant, create_visit, sent_to, tenant_says

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Kept outside pytest's temporary folders so a person can look at the console after a run.
SCREENSHOT_COPY = Path(__file__).resolve().parent.parent / "var" / "console.png"
EMPTY_MESSAGE_REPLY = (
    "Your message arrived empty. Please reply with a few words, for example YES to confirm your visit."
)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not at /usr/bin/chromium: run ./test.sh as root, or apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    try:
        yield context.new_page()
    finally:
        context.close()


def test_an_officer_answers_a_waiting_tenant_in_the_browser_and_hands_back(
    runtime, live_app, simulator, page, tmp_path
):
    officer = create_officer(runtime)
    create_operative(runtime)
    tenant = create_tenant(runtime, name="Amara Okafor")
    next_week = datetime.combine(datetime.now(LONDON).date() + timedelta(days=7), time(10), LONDON)
    create_visit(runtime, tenant, next_week)

    # The tenant writes; the conversation joins the queue as the dialogue would put it there.
    tenant_says(live_app, "")
    with transaction(runtime.sessions) as session:
        conversation = session.scalar(select(Conversation))
        request_handoff(conversation, "asked_for_person", runtime.clock())
    tenant_says(live_app, "Can someone ring me about the boiler? <b>thanks</b>")

    page.goto(live_app.config["LIVE_URL"] + "/console/")
    page.get_by_label("Email").fill(officer.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    waiting = page.locator("table.queue tbody tr", has_text="Amara Okafor")
    expect(waiting).to_contain_text("Asked for a person")
    expect(waiting).to_contain_text("waiting")
    waiting.get_by_role("link", name="Amara Okafor").click()
    expect(page.locator(".transcript")).to_contain_text("Can someone ring me about the boiler? <b>thanks</b>")
    page.get_by_role("button", name="Take over this conversation").click()

    reply = "Hello Amara, this is Sam from the housing team. I will ring you at 2pm today."
    page.get_by_label("Message to Amara Okafor").fill(reply)
    page.get_by_role("button", name="Send by SMS").click()
    expect(page.locator(".flash-info")).to_contain_text("Sent")
    assert reply in [message["body"] for message in sent_to(simulator, tenant.phone)]

    # Let the simulator's delivery reports arrive, so the picture shows each message's status.
    simulator.state.wait_for_callbacks()
    page.reload()
    expect(page.locator(".message.outbound").last).to_contain_text("delivered")
    screenshot = tmp_path / "console.png"
    page.screenshot(path=str(screenshot), full_page=True)
    SCREENSHOT_COPY.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(screenshot, SCREENSHOT_COPY)

    page.get_by_role("button", name="Hand back to the assistant").click()
    expect(page.locator(".flash-info")).to_contain_text("Handed back")
    expect(page.locator("table.queue")).to_have_count(0)
    assert get_conversation(runtime, conversation.id).owner == "assistant"
    assert tenant_says(live_app, "") == [EMPTY_MESSAGE_REPLY]
