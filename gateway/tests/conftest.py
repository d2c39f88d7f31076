from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.tests.fake_service import FakeService


@pytest.fixture
def service() -> Iterator[FakeService]:
    fake = FakeService()
    yield fake
    fake.close()
