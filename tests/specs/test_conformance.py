"""A test during which a fake sees a non-conformant exchange fails, saying what and where."""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

from tests.specs import conformance
from tests.warm import WarmInterpreter

REPO = Path(__file__).resolve().parents[2]


def test_expecting_faults_collects_instead_of_failing() -> None:
    with conformance.expecting_faults() as outer:
        conformance.report(["a"])
        with conformance.expecting_faults() as inner:
            conformance.report(["b"])
        conformance.report([])
    assert (outer, inner) == (["a"], ["b"])
    assert conformance.take() == []


def test_a_fault_seen_by_a_fake_fails_the_test_that_caused_it(tmp_path: Path, warm_python: WarmInterpreter) -> None:
    (tmp_path / "conftest.py").write_text("from tests.conftest import spec_conformance  # noqa: F401\n")
    (tmp_path / "test_inner.py").write_text(
        textwrap.dedent("""
        import aiohttp
        from tests.telegram.fake_bot_api import FakeBotApi

        async def post(fake, method, data):
            async with aiohttp.ClientSession() as session:
                async with session.post(f"{fake.base_url}{fake.token}/{method}", data=data) as response:
                    return response.status

        async def test_conformant():
            async with FakeBotApi() as fake:
                assert await post(fake, "getMe", {}) == 200

        async def test_callback_data_too_long():
            async with FakeBotApi() as fake:
                fake.group_chat()
                markup = '{"inline_keyboard": [[{"text": "b", "callback_data": "%s"}]]}' % ("x" * 65)
                assert await post(fake, "sendMessage", {"chat_id": "-1001234567890", "text": "hi",
                                                        "reply_markup": markup}) == 400
    """)
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = warm_python.run(
        "pytest",
        [
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=auto",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
            str(tmp_path),
        ],
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert re.search(r"\b2 passed\b.*\b1 error\b", output), output  # both ran; the second errs at teardown
    assert "ERROR at teardown of test_callback_data_too_long" in output, output
    assert "sendMessage.reply_markup.inline_keyboard[0][0].callback_data: 65 bytes, the spec allows 1-64" in output
