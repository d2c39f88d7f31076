"""The partner sandbox on its own: it reads the file ``seed_demo`` writes (a bad or missing one
is one log line, and it keeps running), verifies, deduplicates on ``webhook-id``, and retries
the partner API with backoff while the service does not answer. No Django: the service's side
is an ``httpx`` transport that answers as the partner API would."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from config.partner_sandbox import RETRY_WAITS, Sandbox, SandboxFileError, partners_load

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Api:
    """The partner API: answers each call with the next of ``answers`` (the last repeats)."""

    def __init__(self, *answers: int | type[Exception]) -> None:
        self.answers = list(answers) or [200]
        self.calls: list[tuple[str, dict[str, Any], str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        answer = self.answers[min(len(self.calls), len(self.answers) - 1)]
        self.calls.append(
            (request.url.path, json.loads(request.content), request.headers["authorization"])
        )
        if not isinstance(answer, int):
            raise answer("the service is not up", request=request)
        return httpx.Response(answer, json={})


def write_file(path: Path, outcome: str = "applied", **extra: Any) -> None:
    partner = {"code": "cloudco", "secret": SECRET, "key": "tsk_cloudco", "outcome": outcome}
    path.write_text(json.dumps({"partners": [{**partner, **extra}]}))


def sandbox_for(tmp_path: Path, api: Api, clock: FakeClock | None = None) -> Sandbox:
    return Sandbox(
        file=tmp_path / "partner_sandbox.json",
        api="http://service.test",
        report_delay=3,
        http=httpx.Client(transport=httpx.MockTransport(api)),
        clock=clock or FakeClock(),
    )


def signed(body: dict[str, Any], msg_id: str = "msg_1", secret: str = SECRET) -> tuple[bytes, Any]:
    text = json.dumps(body)
    now = datetime.now(UTC)
    return text.encode(), {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, text),
    }


SUSPENDED = {"type": "enforcement.suspended", "data": {"change": 42, "account": "acme-ai"}}


def test_a_missing_or_bad_file_is_one_log_line_and_the_sandbox_keeps_answering(
    tmp_path: Path, caplog: Any
) -> None:
    api = Api()
    sandbox = sandbox_for(tmp_path, api)
    body, headers = signed(SUSPENDED)
    caplog.set_level(logging.INFO, logger="partner_sandbox")

    first = sandbox.handle("/cloudco", headers, body)
    second = sandbox.handle("/cloudco", headers, body)

    assert first[0] == second[0] == 404
    assert [r.message for r in caplog.records if r.levelno == logging.WARNING] == [
        f"no partners to play: {tmp_path / 'partner_sandbox.json'} does not exist yet "
        "(written by `manage.py seed_demo`)"
    ]
    # Once seed_demo writes the file, the same webhook is taken.
    write_file(tmp_path / "partner_sandbox.json")
    assert sandbox.handle("/cloudco", headers, body)[0] == 200
    assert sandbox.pending() == 1


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "cannot be read as JSON"),
        ('{"partners": []}', "lists no partners"),
        ('{"partners": [{"code": "cloudco"}]}', "a partner lacks secret, key, outcome"),
    ],
)
def test_a_bad_file_says_what_is_wrong(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "partner_sandbox.json"
    path.write_text(content)
    with pytest.raises(SandboxFileError, match=problem):
        partners_load(path)


def test_an_unknown_outcome_is_refused(tmp_path: Path) -> None:
    write_file(tmp_path / "partner_sandbox.json", outcome="ignored")
    with pytest.raises(SandboxFileError, match="outcome must be one of applied, declined"):
        partners_load(tmp_path / "partner_sandbox.json")


def test_a_bad_signature_is_a_401_and_nothing_follows(tmp_path: Path) -> None:
    write_file(tmp_path / "partner_sandbox.json")
    api = Api()
    sandbox = sandbox_for(tmp_path, api)
    body, headers = signed(SUSPENDED, secret="whsec_" + "A" * 32)

    status, _ = sandbox.handle("/cloudco", headers, body)
    sandbox.run_due()

    assert status == 401
    assert sandbox.rejected == 1
    assert (sandbox.pending(), api.calls) == (0, [])


def test_a_retried_webhook_is_followed_up_once(tmp_path: Path) -> None:
    write_file(tmp_path / "partner_sandbox.json")
    clock = FakeClock()
    api = Api()
    sandbox = sandbox_for(tmp_path, api, clock)
    body, headers = signed(SUSPENDED)

    answers = [sandbox.handle("/cloudco", headers, body) for _ in range(2)]
    sandbox.run_due()
    clock.now += 3
    sandbox.run_due()

    assert answers == [(200, {"received": "msg_1"}), (200, {"duplicate": True})]
    assert api.calls == [
        ("/api/v1/partner/changes/42/acknowledge", {}, "Bearer tsk_cloudco"),
        (
            "/api/v1/partner/changes/42/report",
            {"outcome": "applied", "reference": "CLOUDCO-42"},
            "Bearer tsk_cloudco",
        ),
    ]


def test_the_report_waits_the_configured_delay_after_the_acknowledgement(tmp_path: Path) -> None:
    write_file(tmp_path / "partner_sandbox.json", outcome="declined")
    clock = FakeClock()
    api = Api()
    sandbox = sandbox_for(tmp_path, api, clock)
    sandbox.handle("/cloudco", *reversed(signed(SUSPENDED)))

    sandbox.run_due()
    clock.now += 2.9
    sandbox.run_due()
    early = len(api.calls)
    clock.now += 0.1
    sandbox.run_due()

    assert early == 1
    assert api.calls[-1][0:2] == (
        "/api/v1/partner/changes/42/report",
        {
            "outcome": "declined",
            "note": "The account is on a committed-spend contract; legal review first.",
        },
    )


def test_the_partner_api_is_retried_with_backoff_until_the_service_answers(
    tmp_path: Path,
) -> None:
    write_file(tmp_path / "partner_sandbox.json")
    clock = FakeClock()
    api = Api(httpx.ConnectError, 503, 200)
    sandbox = sandbox_for(tmp_path, api, clock)
    sandbox.handle("/cloudco", *reversed(signed(SUSPENDED)))

    sandbox.run_due()  # refused: the web server is not up
    sandbox.run_due()  # nothing due before the first wait
    clock.now += RETRY_WAITS[0]
    sandbox.run_due()  # 503
    clock.now += RETRY_WAITS[1] - 0.01
    sandbox.run_due()
    before_second_wait = len(api.calls)
    clock.now += 0.01
    sandbox.run_due()  # 200

    assert before_second_wait == 2
    assert [c[0] for c in api.calls] == ["/api/v1/partner/changes/42/acknowledge"] * 3
    assert sandbox.done == [("cloudco", 42, "acknowledge")]


def test_a_refusal_of_the_partner_api_is_not_retried(tmp_path: Path, caplog: Any) -> None:
    write_file(tmp_path / "partner_sandbox.json")
    clock = FakeClock()
    api = Api(404)
    sandbox = sandbox_for(tmp_path, api, clock)
    sandbox.handle("/cloudco", *reversed(signed(SUSPENDED)))

    sandbox.run_due()
    clock.now += 100
    sandbox.run_due()

    assert len(api.calls) == 1
    assert (sandbox.pending(), sandbox.done) == (0, [])
    assert "cloudco: acknowledge of change 42: given up (HTTP 404)" in caplog.text


def test_a_port_in_use_is_one_clear_line_and_exit_1(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = {
            **os.environ,
            "SANDBOX_PORT": str(taken.getsockname()[1]),
            "PARTNER_SANDBOX_FILE": str(tmp_path / "partner_sandbox.json"),
        }
        result = subprocess.run(
            [sys.executable, "-m", "config.partner_sandbox"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert "set SANDBOX_PORT to a free port" in result.stderr
    assert "Traceback" not in result.stderr
