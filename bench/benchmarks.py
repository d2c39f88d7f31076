"""The benchmarks, each against a baseline measured in the same run."""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from django.db import connection

from bench import data
from bench.procs import Gunicorn, Mirror, PeakRss, cpu_seconds, free_port, pinned, wrk
from bench.run import Line, server_env

HERE = Path(__file__).resolve().parent
ACCOUNTS = 100_000
_state: dict[str, Any] = {}


def _accounts(*, restricted: bool = False) -> None:
    """100,000 accounts, loaded once per run (and again after cases are reloaded); with
    ``restricted``, about two fifths of them restricted (``data.VARIANTS``), as the lookup and
    the check meet them. The other benchmarks take the accounts as they find them."""
    if _state.get("accounts") == "restricted" or (_state.get("accounts") and not restricted):
        return
    data.reset()
    data.load_accounts(ACCOUNTS)
    if restricted:
        _state["variants"] = data.load_restrictions(ACCOUNTS)
    _state["accounts"] = "restricted" if restricted else "plain"


def _fresh(cases: int, due: int, now: Any = None) -> None:
    """Only the 100,000 accounts, all active, and ``cases`` cases, ``due`` of them due."""
    data.reset()
    data.load_accounts(ACCOUNTS)
    data.load_cases(cases, due, accounts=ACCOUNTS, now=now)
    _state["accounts"] = "plain"


def _mix() -> str:
    """The accounts of the lookup and check: how many of each kind."""
    variants = _state["variants"]
    active = ACCOUNTS - sum(variants.values())
    return ", ".join([f"{active:,} active", *(f"{n:,} {v}" for v, n in variants.items())])


def _key(*scopes: str) -> str:
    from accounts.services import api_client_create

    _client, key = api_client_create(name=f"bench-{uuid.uuid4().hex[:8]}", scopes=list(scopes))
    return key


def _staff() -> dict[str, Any]:
    from django.contrib.auth.models import Group, User

    users = {}
    for role in ("analyst", "lead"):
        user, made = User.objects.get_or_create(
            username=f"bench-{role}", defaults={"is_staff": True, "email": f"{role}@bench.test"}
        )
        if made:
            user.groups.add(Group.objects.get(name=role))
        users[role] = user
    return users


def _seconds(quick: bool) -> int:
    return 5 if quick else 60


def enforcement_lookup(quick: bool) -> Line:
    _accounts(restricted=True)
    key = _key("enforcement:read")
    server = Gunicorn(server_env(), workers=2, cpu=0)
    env = {"BENCH_ACCOUNTS": str(ACCOUNTS), "BENCH_KEY": key}
    try:
        warm = 2
        wrk(
            server.url,
            seconds=warm,
            script=HERE / "lookup.lua",
            env={**env, "BENCH_PREFIX": "/api/v1/enforcement/"},
        )
        base = wrk(
            server.url,
            seconds=_seconds(quick),
            script=HERE / "lookup.lua",
            env={**env, "BENCH_PREFIX": "/bench/bare/", "BENCH_KEY": ""},
        )
        ours = wrk(
            server.url,
            seconds=_seconds(quick),
            script=HERE / "lookup.lua",
            env={**env, "BENCH_PREFIX": "/api/v1/enforcement/"},
        )
    finally:
        rss = server.stop()
    return Line(
        "enforcement lookup",
        f"{ours.requests_per_s:,.0f} req/s p50 {ours.p50_ms:.1f} p99 {ours.p99_ms:.1f} ms "
        f"err {ours.errors}",
        f"{base.requests_per_s:,.0f} req/s p50 {base.p50_ms:.1f} p99 {base.p99_ms:.1f} ms",
        ours.requests_per_s / base.requests_per_s,
        ">= 1.0, p99 <= 1.5x, 0 errors",
        f"p99 ratio {ours.p99_ms / base.p99_ms:.2f}; gunicorn {rss}; {_mix()}",
    )


def batch_check(quick: bool) -> Line:
    _accounts(restricted=True)
    key = _key("enforcement:read")
    server = Gunicorn(server_env(), workers=2, cpu=0)
    env = {"BENCH_ACCOUNTS": str(ACCOUNTS), "BENCH_KEY": key}
    seconds = max(3, _seconds(quick) // 2)
    runs = {
        "base": {**env, "BENCH_PATH": "/bench/raw-check", "BENCH_KEY": ""},
        "ours": {**env, "BENCH_PATH": "/api/v1/enforcement/check"},
    }
    try:
        for run_env in runs.values():  # warm both paths (workers, plans, buffers) first
            wrk(server.url, seconds=2, script=HERE / "check.lua", env=run_env, connections=4)
        base, ours = (
            wrk(server.url, seconds=seconds, script=HERE / "check.lua", env=e, connections=4)
            for e in runs.values()
        )
    finally:
        rss = server.stop()
    return Line(
        "batch check",
        f"{ours.requests_per_s * 1000:,.0f} accounts/s (err {ours.errors})",
        f"{base.requests_per_s * 1000:,.0f} accounts/s raw SELECT",
        ours.requests_per_s / base.requests_per_s,
        ">= 0.5",
        f"gunicorn {rss}; {_mix()}",
    )


KINDS = ("prompt_volume", "policy_classifier_hit", "rate_limit_exceeded", "key_shared")


def _signal_batches(count: int) -> list[list[dict[str, Any]]]:
    """1,000-signal batches in which a fifth repeat signals already sent."""
    rng = random.Random(11)
    now = time.time()
    sent: list[dict[str, Any]] = []
    batches = []
    for b in range(count):
        fresh = [
            {
                "account": data.account_id_text(rng.randint(1, ACCOUNTS)),
                "kind": rng.choice(KINDS),
                "severity": rng.choice(("low", "medium")),
                "occurred_at": time.strftime(
                    "%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - rng.randint(0, 3000))
                ),
                "source": "bench-detector",
                "dedupe_key": f"b{b}-{i}-{uuid.uuid4().hex[:8]}",
                "summary": "benchmark signal",
                "evidence": {"requests": rng.randint(1, 10_000)},
            }
            for i in range(800 if sent else 1000)
        ]
        dupes = rng.sample(sent, 200) if sent else []
        batches.append(fresh + dupes)
        sent.extend(fresh)
    return batches


def _copy_baseline(bodies: list[bytes]) -> float:
    """The least any intake must do with the same request bodies: parse the JSON, resolve the
    accounts' ids in one query, and COPY the rows into a scratch table. Signals per second."""
    columns = (
        "account_id",
        "kind",
        "severity",
        "occurred_at",
        "received_at",
        "source",
        "dedupe_key",
        "automated",
        "summary",
        "evidence",
    )
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_scratch_signal")
        cursor.execute(
            "CREATE TABLE bench_scratch_signal (account_id bigint, kind varchar(64), "
            "severity varchar(16), occurred_at timestamp with time zone, "
            "received_at timestamp with time zone, source varchar(100), "
            "dedupe_key varchar(200), automated boolean, summary text, evidence text)"
        )
    started = time.perf_counter()
    total = 0
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for body in bodies:
        batch = json.loads(body)["signals"]
        wanted = list({s["account"] for s in batch})
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    "SELECT external_id, id FROM accounts_account WHERE external_id = ANY(%s)",
                    [wanted],
                )
            else:
                marks = ",".join(["%s"] * len(wanted))
                cursor.execute(
                    f"SELECT external_id, id FROM accounts_account WHERE external_id IN ({marks})",  # noqa: S608
                    wanted,
                )
            ids = dict(cursor.fetchall())
        data.copy_rows(
            "bench_scratch_signal",
            columns,
            (
                (
                    ids[s["account"]],
                    s["kind"],
                    s["severity"],
                    s["occurred_at"],
                    now,
                    s["source"],
                    s["dedupe_key"],
                    True,
                    s["summary"],
                    json.dumps(s["evidence"]),
                )
                for s in batch
            ),
        )
        total += len(batch)
    elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_scratch_signal")
    return total / elapsed


def signal_intake(quick: bool) -> Line:
    _accounts()
    key = _key("signals:write")
    batches = _signal_batches(10 if quick else 60)
    bodies = [json.dumps({"signals": b}).encode() for b in batches]
    baseline = _copy_baseline(bodies)
    server = Gunicorn(server_env(), workers=1, cpu=0)
    codes: list[int] = []
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            client.post("/api/v1/signals", content=bodies[0], headers=headers)  # warm-up
            started = time.perf_counter()
            lock = threading.Lock()
            queue = list(bodies[1:])

            def post_all() -> None:
                while True:
                    with lock:
                        if not queue:
                            return
                        body = queue.pop(0)
                    codes.append(
                        client.post("/api/v1/signals", content=body, headers=headers).status_code
                    )

            threads = [threading.Thread(target=post_all) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - started
    finally:
        rss = server.stop()
    rate = sum(len(b) for b in batches[1:]) / elapsed
    errors = sum(1 for c in codes if c >= 300)
    return Line(
        "signal intake",
        f"{rate:,.0f} signals/s (1 worker, err {errors})",
        f"{baseline:,.0f} signals/s parse+COPY",
        rate / baseline,
        ">= 0.3 and >= 10,000/s",
        f"gunicorn {rss}",
    )


def _sweep_once(total: int) -> tuple[float, int]:
    from django.db.models import Q
    from django.utils import timezone

    from cases.deadlines import deadlines_sweep
    from cases.models import Case

    now = timezone.now()
    _fresh(total, 1000, now)
    _staff()
    started = time.perf_counter()
    deadlines_sweep(now=now)
    elapsed = time.perf_counter() - started
    due = Case.objects.filter(Q(review_deadline__lte=now + timedelta(days=1))).count()
    return elapsed, due


def deadline_sweep(quick: bool) -> Line:
    _accounts()
    big = 200_000 if quick else 1_000_000
    small_time, _ = _sweep_once(10_000)
    big_time, _ = _sweep_once(big)
    return Line(
        "deadline sweep",
        f"{big_time:.2f} s at {big:,} cases",
        f"{small_time:.2f} s at 10,000 cases",
        big_time / small_time,
        "<= 1.5 (1,000 due in both)",
    )


def _admin_page(path: str, user: Any, rounds: int) -> tuple[float, int]:
    from django.db import reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(user)
    assert client.get(path).status_code == 200
    times = []
    queries = 0
    for _ in range(rounds):
        reset_queries()
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            response = client.get(path)
            times.append(time.perf_counter() - started)
        assert response.status_code == 200
        queries = len(ctx.captured_queries)
    return statistics.median(times), queries


def admin_case_list(quick: bool) -> Line:
    _accounts()
    from django.test.utils import override_settings

    analyst = _staff()["analyst"]
    big = 200_000 if quick else 1_000_000
    path = "/admin/cases/case/?queue=overdue"
    rounds = 5 if quick else 15
    with override_settings(ALLOWED_HOSTS=["*"]):
        _fresh(1_000, 1000)
        small_t, small_q = _admin_page(path, analyst, rounds)
        _fresh(big, 1000)
        big_t, big_q = _admin_page(path, analyst, rounds)
    return Line(
        "admin case list",
        f"{big_t * 1000:.0f} ms/page, {big_q} queries at {big:,}",
        f"{small_t * 1000:.0f} ms/page, {small_q} queries at 1,000",
        big_t / small_t,
        "<= 2.0, same queries <= 13",
    )


def admin_dashboard(quick: bool) -> Line:
    """The admin's front page (cases.dashboard): its counts and chart at 1,000 and at the
    big size, for a lead (who sees every tile and setting)."""
    _accounts()
    from django.test.utils import override_settings

    lead = _staff()["lead"]
    big = 200_000 if quick else 1_000_000
    rounds = 5 if quick else 15
    with override_settings(ALLOWED_HOSTS=["*"]):
        _fresh(1_000, 1000)
        small_t, small_q = _admin_page("/admin/", lead, rounds)
        _fresh(big, 1000)
        big_t, big_q = _admin_page("/admin/", lead, rounds)
    return Line(
        "admin dashboard",
        f"{big_t * 1000:.0f} ms/page, {big_q} queries at {big:,}",
        f"{small_t * 1000:.0f} ms/page, {small_q} queries at 1,000",
        big_t / small_t,
        "same queries <= 16 (tests/admin/test_dashboard.py)",
    )


def _receiver() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(pinned([sys.executable, str(HERE / "receiver.py"), str(port)], 1))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            httpx.post(f"http://127.0.0.1:{port}/", content=b"{}", timeout=0.5)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}/hook"


def _work_off_the_queue() -> int:
    """Run the task messages waiting on the in-memory broker in this process, one after the
    other, as one worker process with the solo pool would; returns how many ran."""
    from config.celery import app

    ran = 0
    with app.connection_for_write() as conn:  # where this process publishes
        queue = conn.SimpleQueue(app.conf.task_default_queue)
        try:
            while True:
                try:
                    message = queue.get(block=False)
                except queue.Empty:
                    return ran
                args, kwargs, _embed = message.decode()
                app.tasks[message.headers["task"]].apply(args=args, kwargs=kwargs)
                message.ack()
                ran += 1
        finally:
            queue.close()


def webhook_delivery(quick: bool) -> Line:
    """Deliveries per second of one worker process on the production path: ``notices_enqueue``
    (what runs in the web process after the recording transaction commits) publishes
    ``notices_send`` messages, and this process runs them the way a worker does; the clock runs
    from the first message taken to the last one done. A few notices go through first, as a
    worker's first task builds its HTTP client. Baseline: the same signed POSTs in a loop over
    one httpx client."""
    from django.test.utils import override_settings
    from django.utils import timezone

    from core.actors import Actor
    from notifications.crypto import secret_decrypt
    from notifications.delivery import webhook_headers
    from notifications.models import Notice, WebhookEndpoint
    from notifications.services import endpoint_create
    from notifications.tasks import notices_enqueue

    count = 300 if quick else 2000
    warm = 20
    proc, url = _receiver()
    rss = PeakRss(proc.pid).start()
    try:
        with override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=True):
            endpoint, _secret = endpoint_create(
                url=url,
                event_types=["case.transitioned"],
                partner=None,
                actor=Actor.system("bench"),
            )

            def make(first: int, number: int) -> list[Notice]:
                return Notice.objects.bulk_create(
                    Notice(
                        channel="webhook",
                        event="case.transitioned",
                        recipient=url,
                        endpoint=endpoint,
                        payload={"type": "case.transitioned", "data": {"case": i}},
                        body_text=json.dumps({"type": "case.transitioned", "data": {"case": i}}),
                    )
                    for i in range(first, first + number)
                )

            # The warm-up is delivered before the measured notices exist: a worker holding an
            # endpoint's lane takes every due notice of that endpoint, so notices made earlier
            # would go out during the warm-up, before the clock starts.
            _work_off_the_queue()  # nothing left over from another benchmark
            warmup = make(0, warm)
            notices_enqueue([n.pk for n in warmup])
            _work_off_the_queue()
            notices = make(warm, count)
            secret = secret_decrypt(WebhookEndpoint.objects.get(pk=endpoint.pk).secret)

            with httpx.Client(timeout=5) as client:
                started = time.perf_counter()
                for n in notices:
                    body = n.body_text.encode()
                    client.post(
                        url, content=body, headers=webhook_headers(n, secret, timezone.now())
                    )
                plain = count / (time.perf_counter() - started)

            notices_enqueue([n.pk for n in notices])
            started = time.perf_counter()
            messages = _work_off_the_queue()
            ours = count / (time.perf_counter() - started)
            delivered = Notice.objects.filter(
                pk__in=[n.pk for n in notices], status="delivered"
            ).count()
            if delivered != count:
                raise RuntimeError(f"only {delivered} of {count} notices were delivered")
    finally:
        summary = rss.stop()
        proc.terminate()
    return Line(
        "webhook delivery",
        f"{ours:,.0f} deliveries/s (1 process)",
        f"{plain:,.0f} POST/s plain httpx loop",
        ours / plain,
        ">= 0.5 and >= 500/s",
        f"{messages} task messages; receiver {summary}",
    )


_counts_lock = threading.Lock()


def _poll(
    url: str, key: str, etag: str | None, stop: threading.Event, counts: dict[int, int]
) -> None:
    """One mirror: a keep-alive connection polling the feed once a second until ``stop``."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=5)
    headers = {"Authorization": f"Bearer {key}"}
    if etag:
        headers["If-None-Match"] = etag
    path = parts.path + "?" + parts.query
    time.sleep(random.random())  # mirrors do not poll in step
    while not stop.is_set():
        started = time.monotonic()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        with _counts_lock:
            counts[response.status] = counts.get(response.status, 0) + 1
        stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))
    connection.close()


def idle_feed(quick: bool) -> Line:
    """100 mirrors polling an idle feed once a second: the service's CPU, conditional polls
    (``If-None-Match``, answered 304 from one query) against plain ones (the whole feed view
    answering an empty page); and, for scale, the same conditional polls answered by an app
    that does nothing (``bench/empty_wsgi.py``): what gunicorn itself costs."""
    from cases.gateway_reads import feed_head

    _accounts()
    key = _key("enforcement:read")
    head = feed_head()
    server = Gunicorn(server_env(), workers=1, cpu=0)
    url = f"{server.url}/api/v1/enforcement/changes?after={head}&limit=1000"
    seconds = 5 if quick else 20
    try:
        first = httpx.get(url, headers={"Authorization": f"Bearer {key}"}, timeout=5)
        etag = first.headers["ETag"]

        def run(tag: str | None) -> tuple[float, dict[int, int]]:
            stop = threading.Event()
            counts: dict[int, int] = {}
            threads = [
                threading.Thread(target=_poll, args=(url, key, tag, stop, counts), daemon=True)
                for _ in range(100)
            ]
            for thread in threads:
                thread.start()
            time.sleep(1.5)  # every poller connected and polling
            before, started = cpu_seconds(server.proc.pid), time.monotonic()
            time.sleep(seconds)
            used = (cpu_seconds(server.proc.pid) - before) / (time.monotonic() - started)
            stop.set()
            for thread in threads:
                thread.join(5)
            return used, counts

        base, base_counts = run(None)
        ours, our_counts = run(etag)
    finally:
        rss = server.stop()
    # What the HTTP server alone costs for the same polls: an app that answers 304 at once.
    server = Gunicorn(server_env(), workers=1, cpu=0, app="bench.empty_wsgi:application")
    url = f"{server.url}/api/v1/enforcement/changes?after={head}&limit=1000"
    try:
        floor, _ = run(etag)
    finally:
        server.stop()
    return Line(
        "idle feed, 100 mirrors",
        f"{ours * 100:.1f} % of a core ({our_counts.get(304, 0):,} 304s)",
        f"{base * 100:.1f} % unconditional ({base_counts.get(200, 0):,} 200s)",
        ours / base if base else 0.0,
        "<= 10 % of a core",
        f"1 gunicorn worker, 1 poll/s each; an empty app's 304s: {floor * 100:.1f} %; "
        f"gunicorn {rss}",
    )


def mirror_authz(quick: bool) -> Line:
    """The mirror's /authz (one process, pinned to CPU 0) against the service's lookup
    (gunicorn, 2 workers, pinned to CPU 0) over the same accounts, from wrk on CPU 1."""
    import tempfile

    from cases.gateway_reads import feed_head

    _accounts(restricted=True)
    key = _key("enforcement:read")
    server = Gunicorn(server_env(), workers=2, cpu=0)
    folder = Path(tempfile.mkdtemp(prefix="bench-mirror-"))
    mirror = Mirror(server.url, key, folder, cpu=0)
    env = {"BENCH_ACCOUNTS": str(ACCOUNTS), "BENCH_KEY": key}
    try:
        held = mirror.wait_for_cursor(feed_head())
        lookup = {**env, "BENCH_PREFIX": "/api/v1/enforcement/"}
        wrk(server.url, seconds=2, script=HERE / "lookup.lua", env=lookup)
        base = wrk(server.url, seconds=_seconds(quick), script=HERE / "lookup.lua", env=lookup)
        authz = {**env, "BENCH_PATH": "/authz", "BENCH_KEY": ""}
        wrk(mirror.url, seconds=2, script=HERE / "authz.lua", env=authz, refusals_expected=True)
        ours = wrk(
            mirror.url,
            seconds=_seconds(quick),
            script=HERE / "authz.lua",
            env=authz,
            refusals_expected=True,
        )
    finally:
        mirror_rss = mirror.stop()
        rss = server.stop()
    return Line(
        "mirror authz",
        f"{ours.requests_per_s:,.0f} req/s p50 {ours.p50_ms:.2f} p99 {ours.p99_ms:.2f} ms "
        f"err {ours.errors}",
        f"{base.requests_per_s:,.0f} req/s p50 {base.p50_ms:.1f} p99 {base.p99_ms:.1f} ms (lookup)",
        ours.requests_per_s / base.requests_per_s,
        ">= 10x, p99 <= 2 ms, 0 errors",
        f"mirror {mirror_rss} holding {held['accounts']:,} accounts; gunicorn {rss}; {_mix()}",
    )


def _until(answer: Callable[[], bool], timeout: float = 30) -> float:
    """Seconds until ``answer()`` is true, asked as fast as a keep-alive connection allows."""
    started = time.monotonic()
    while not answer():
        if time.monotonic() - started > timeout:
            raise RuntimeError("the new state was not answered in time")
    return time.monotonic() - started


def mirror_propagation(quick: bool) -> Line:
    """A decision's commit to the mirror answering the new state (a suspension refused), over
    200 changes, each at a random moment of the mirror's 1 s poll; the baseline is the same
    wait asking the service's own check."""
    import http.client
    import tempfile

    from accounts.models import Account
    from cases.gateway_reads import feed_head

    _accounts(restricted=True)
    key = _key("enforcement:read")
    policy = data._policy()
    suspension = next(v for v in data.VARIANTS if v.name == "suspension")
    changes = 20 if quick else 200
    active = list(
        Account.objects.filter(enforcement_status="active")
        .order_by("-id")
        .values_list("id", "external_id")[: changes * 2]
    )
    server = Gunicorn(server_env(), workers=2, cpu=0)
    folder = Path(tempfile.mkdtemp(prefix="bench-mirror-"))
    mirror = Mirror(server.url, key, folder, cpu=0, poll_interval=1.0)
    rng = random.Random(11)
    try:
        mirror.wait_for_cursor(feed_head())
        to_mirror = http.client.HTTPConnection("127.0.0.1", mirror.port, timeout=5)
        to_service = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)

        def refused(conn: http.client.HTTPConnection, path: str, account: str) -> bool:
            conn.request("GET", path, headers={"x-account-id": account, "x-tns-key": key})
            response = conn.getresponse()
            response.read()
            return response.status == 403

        ours: list[float] = []
        base: list[float] = []
        for n in range(changes):
            for (account_id, external_id), waits, conn, path in (
                (active[2 * n], ours, to_mirror, "/authz"),
                (active[2 * n + 1], base, to_service, "/api/v1/gateway/authz"),
            ):
                time.sleep(rng.random())  # a random moment of the mirror's poll
                data._through_services(account_id, suspension, policy)  # committed on return
                started = time.monotonic()
                _until(lambda c=conn, p=path, a=external_id: refused(c, p, a))
                waits.append(time.monotonic() - started)
        to_mirror.close()
        to_service.close()
    finally:
        mirror_rss = mirror.stop()
        rss = server.stop()

    def pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    p99 = pct(ours, 0.99)
    return Line(
        "mirror propagation",
        f"p50 {pct(ours, 0.5) * 1000:.0f} p99 {p99 * 1000:.0f} ms over {changes} changes",
        f"p50 {pct(base, 0.5) * 1000:.1f} p99 {pct(base, 0.99) * 1000:.1f} ms (service check)",
        p99 / 2.0,
        "p99 <= 2 s",
        f"mirror polls the feed every 1 s; mirror {mirror_rss}; gunicorn {rss}",
    )


def _state_file(path: Path, accounts: int, seed: int = 5) -> None:
    """A mirror's state file holding ``accounts`` restricted accounts, each with restrictions
    of its own (its own decision, case and start), in the shares of ``data.VARIANTS``."""
    rng = random.Random(seed)
    variants = list(data.VARIANTS)
    weights = [v.share for v in variants]
    base = {
        "models": [],
        "features": [],
        "requests_per_minute": None,
        "tokens_per_minute": None,
        "ends_at": None,
    }
    rows: dict[str, list[dict[str, Any]]] = {}
    for n in range(accounts):
        variant = rng.choices(variants, weights)[0]
        spec = {k: list(v) if isinstance(v, tuple) else v for k, v in variant.spec.items()}
        day = 1 + n % 28
        restriction = {
            **base,
            **spec,
            "starts_at": f"2026-11-{day:02d}T{n % 24:02d}:{n % 60:02d}:00.{n % 999999:06d}Z",
            "decision": f"sor_{uuid.UUID(int=rng.getrandbits(128)).hex}",
            "case": 1_000_000 + n,
        }
        if variant.duration is not None:
            restriction["ends_at"] = f"2027-01-{day:02d}T00:00:00.000000Z"
        rows[data.account_id_text(n + 1)] = [restriction]
    with path.open("w") as f:
        header = {"version": 2, "cursor": accounts, "synced_at": time.time(), "accounts": accounts}
        f.write(json.dumps(header) + "\n")
        for account, restrictions in rows.items():
            f.write(json.dumps([account, restrictions]) + "\n")
        f.write(json.dumps({"end": True, "accounts": accounts}) + "\n")


def mirror_rss(quick: bool) -> Line:
    """The mirror's RSS holding 100,000 and 1,000,000 restricted accounts (read from a state
    file, every account with restrictions of its own), against an empty mirror."""
    import tempfile

    sizes = (100_000, 1_000_000) if not quick else (10_000, 100_000)
    folder = Path(tempfile.mkdtemp(prefix="bench-mirror-rss-"))
    found: dict[int, tuple[float, str]] = {}
    for size in (0, *sizes):
        (folder / str(size)).mkdir()
        _state_file(folder / str(size) / "mirror-state.json", size)
        mirror = Mirror("http://127.0.0.1:9", "bench-key", folder / str(size), cpu=0)
        try:
            mirror.wait_for_cursor(size, timeout=300)
            time.sleep(1)
            found[size] = (mirror.rss_mib(), "")
        finally:
            peak = mirror.stop()
        found[size] = (found[size][0], peak)
    big = sizes[-1]
    return Line(
        "mirror RSS",
        ", ".join(f"{found[s][0]:.0f} MiB at {s:,}" for s in sizes),
        f"{found[0][0]:.0f} MiB empty",
        found[big][0] / 150,
        "<= 150 MiB at 1,000,000",
        "; ".join(f"{s:,}: {found[s][1]}" for s in sizes) + " (the peak is while reading)",
    )


def _identifiers_load() -> None:
    """One payment fingerprint and one IP prefix for each of the 100,000 accounts."""
    import secrets

    from django.utils import timezone

    from accounts.models import Account

    now = timezone.now()
    ids = list(Account.objects.values_list("pk", flat=True))
    rows = (
        (pk, kind, secrets.token_hex(32), now)
        for pk in ids
        for kind in ("payment_fingerprint", "ip_prefix")
    )
    data.copy_rows(
        "accounts_accountidentifier", ("account_id", "kind", "digest", "created_at"), rows
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE accounts_accountidentifier")


def _seven(n: int) -> list[dict[str, str]]:
    return [
        {"kind": "payment_fingerprint", "value": f"fp_bench_{n}"},
        {"kind": "email_domain", "value": f"ops@bench{n}.test"},
        {"kind": "org_domain", "value": f"www.bench{n}.test"},
        {"kind": "org_registration", "value": f"GB {n:08d}"},
        {"kind": "ip_prefix", "value": f"10.{n // 250 % 250}.{n % 250}.7"},
        {"kind": "billing_address", "value": f"{n} Bench Street, Springfield"},
        {"kind": "api_key_fingerprint", "value": f"abc{n:08d}"},
    ]


def evasion_upserts(quick: bool) -> Line:
    """``PUT /accounts``'s service with seven identifiers (normalised, hashed, stored and
    matched against 200,000 stored ones) against the same upsert without identifiers."""
    from cases.evasion import account_put

    _accounts()
    if not _state.get("identifiers"):
        _identifiers_load()
        _state["identifiers"] = True
    rounds = 200 if quick else 1000
    run = uuid.uuid4().hex[:6]

    def put(n: int, seven: bool) -> float:
        """Seconds to create account ``n``, with seven identifiers of its own or none."""
        started = time.perf_counter()
        account_put(
            external_id=f"bench-{run}-{int(seven)}-{n}",
            name=f"Bench {n}",
            identifiers=_seven(n) if seven else None,
        )
        return time.perf_counter() - started

    for n in range(rounds, rounds + rounds // 5):  # warm both, on accounts of their own
        put(n, False)
        put(n, True)
    # Both create new accounts, in alternation: whatever else the machine and the database do
    # meanwhile weighs on both alike.
    plain = matched = 0.0
    for n in range(rounds):
        plain += put(n, False)
        matched += put(n, True)
    plain, matched = plain / rounds * 1000, matched / rounds * 1000
    return Line(
        "account upserts",
        f"{matched:.2f} ms with 7 identifiers",
        f"{plain:.2f} ms without",
        matched / plain,
        "<= 3.0 (200,000 identifiers stored)",
    )


ALL: list[tuple[str, Callable[[bool], Line]]] = [
    ("lookup", enforcement_lookup),
    ("check", batch_check),
    ("intake", signal_intake),
    ("sweep", deadline_sweep),
    ("admin", admin_case_list),
    ("dashboard", admin_dashboard),
    ("webhook", webhook_delivery),
    ("idle-feed", idle_feed),
    ("mirror-authz", mirror_authz),
    ("mirror-propagation", mirror_propagation),
    ("mirror-rss", mirror_rss),
    ("evasion", evasion_upserts),
]
