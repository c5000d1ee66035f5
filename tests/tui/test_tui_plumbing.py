"""Reads and writes a screen declares reach the state and the person with no code in the app for them."""

from __future__ import annotations

from nocraven_tui import messages
from nocraven_tui.app import NocRavenApp
from nocraven_tui.exchange import Read, Write
from nocraven_tui.widgets.error import ErrorModal
from tests.tui.conftest import frozen_clock, wait_for, wait_for_text
from tests.tui.recorded import replay

# A read and a write no screen of this build has: the app was never told about them.
SWEEP: Read[dict[str, object]] = Read("radar_sweep", lambda client: client.config())
AIM: Write[dict[str, object]] = Write(
    "radar:aim",
    "Aim radar",
    lambda client: client.config(),
    lambda answer: f"Radar aimed at {answer['azimuth']} degrees",
    then_read=(SWEEP,),
)


async def test_a_new_read_lands_in_the_state_under_its_key() -> None:
    app = NocRavenApp(connect=False, clock=frozen_clock)
    async with app.run_test(size=(80, 24)) as pilot:
        replay(app)
        app.post_message(messages.ReadCompleted(SWEEP.key, {"targets": 3}))
        await wait_for(pilot, lambda: app.state.value(SWEEP) is not None, "the read in the state")
        assert app.state.value(SWEEP) == {"targets": 3}
        assert app.state.outcome(SWEEP).at == frozen_clock()

        app.post_message(messages.ReadFailed(SWEEP.key, "too_slow", "the engine took 10 s; try again"))
        text = await wait_for_text(pilot, "Could not read radar sweep")
        assert "the engine took 10 s; try again" in text
        assert app.state.value(SWEEP) == {"targets": 3}  # the last good answer stays
        assert isinstance(app.screen, ErrorModal)


async def test_a_new_write_says_what_its_declaration_says() -> None:
    app = NocRavenApp(connect=False, clock=frozen_clock)
    async with app.run_test(size=(100, 30)) as pilot:
        replay(app)
        await pilot.pause()
        app.post_message(messages.ActionCompleted(AIM, {"azimuth": 270}))
        await wait_for(pilot, lambda: app.state.write_result("radar:") is not None, "the write's outcome")
        assert app.state.write_result("radar:") == "Radar aimed at 270 degrees"

        app.write(AIM)  # no engine link: refused with a reason, as any write would be
        text = await wait_for_text(pilot, "Aim radar failed")
        assert "this console has no engine link" in text
        assert app.state.write_result("radar:") == "Aim radar failed: this console has no engine link"
