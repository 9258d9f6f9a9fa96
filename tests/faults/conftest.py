"""Every test of the fault suite also fails when asyncio logged an error (see
:func:`tests.faults.support.no_asyncio_errors`)."""

from __future__ import annotations

import pytest

from tests.faults.support import no_asyncio_errors  # noqa: F401  (the fixture)


@pytest.fixture(autouse=True)
def _asyncio_clean(request: pytest.FixtureRequest) -> None:
    request.getfixturevalue("no_asyncio_errors")
