"""Shared pytest fixtures: certificates, our test servers, real interop servers, loop choice.

Servers (all bind 127.0.0.1 on a free port, run in their own thread + event loop, and are
stopped by the fixture that started them; see the docstrings in ``tests/servers/``):

==================  ========  ==============================================================
fixture             scope     gives
==================  ========  ==============================================================
``ca``              session   :class:`tests.servers.certs.CertBundle` (trustme CA, leaf certs
                              ``server`` / ``wrong-host`` / ``expired`` / ``untrusted``,
                              client cert, ``server_context()``, ``ca_pem``, ``ca_file``)
``client_ca_pem``   session   PEM bytes of the CA the client must trust
``client_ca_file``  session   path of that PEM file
``h1_server``       function  :class:`tests.servers.h1.H1Server`, plain HTTP/1.1
``h1_tls_server``   function  H1Server over TLS (ALPN ``http/1.1``, cert for localhost)
``h2_tls_server``   function  :class:`tests.servers.h2.H2Server` over TLS (ALPN ``h2``)
``h2c_server``      function  H2Server, h2c prior knowledge on plain TCP
``make_h1_server``  function  factory ``make_h1_server(**H1Server kwargs)``, all stopped
``make_h2_server``  function  factory ``make_h2_server(**H2Server kwargs)`` (settings, ALPN)
``raw_server``      function  factory ``raw_server(handler=None, responses=..., **kw)`` ->
                              :class:`tests.servers.raw.RawServer`, all stopped on teardown
``docroot``         session   :class:`tests.servers.interop.Docroot` (1 MiB / 100 MiB files)
``nginx``           session   :class:`tests.servers.interop.NginxHandle` (skips if missing)
``nghttpd``         session   nghttpd over TLS (h2)             (skips if missing)
``nghttpd_h2c``     session   nghttpd h2c prior knowledge       (skips if missing)
``squid``           session   :class:`tests.servers.interop.SquidHandle` (skips if missing)
``loop_impl``       function  ``"asyncio"`` or ``"uvloop"``: the loop the test runs under
==================  ========  ==============================================================

Our server fixtures fail the test at teardown if the server recorded an unexpected
exception of its own (``server.errors``); a test that provokes one on purpose clears that
list. Expected TLS handshake failures go to ``server.tls_errors`` and are not checked.

Running a test under both event loops
-------------------------------------
Mark it ``@pytest.mark.both_loops`` (or a whole module: ``pytestmark =
pytest.mark.both_loops``). An ``async def`` test then runs twice, ids ``[asyncio]`` and
``[uvloop]``, on a loop made by ``asyncio.new_event_loop`` / ``uvloop.new_event_loop``
(the ``pytest_asyncio_loop_factories`` hook of pytest-asyncio 1.x, below — the version
installed is 1.5; overriding the ``event_loop_policy`` fixture is deprecated there and would
be an error under ``filterwarnings = error``; with a pytest-asyncio too old to have the hook,
async tests run on asyncio only). A plain ``def`` test marked ``both_loops`` that takes the
``loop_impl`` fixture is parametrized the same way (for the sync API, whose
``EventLoopGroup`` picks the loop: pass it ``loop_impl``). In every test, ``loop_impl``
names the loop in use (``"asyncio"`` when unmarked). The ``uvloop`` run is skipped with a
reason when uvloop is not importable. Unmarked async tests run once, on asyncio.

Markers registered here: ``both_loops``, ``interop`` (needs nginx / nghttpd / squid),
``slow``, ``fuzz``.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.servers.certs import CertBundle, get_certs  # noqa: E402
from tests.servers.common import ThreadedServer  # noqa: E402
from tests.servers.h1 import H1Server  # noqa: E402
from tests.servers.h2 import H2Server  # noqa: E402
from tests.servers.interop import (  # noqa: E402
    Docroot,
    MissingBinary,
    NghttpdHandle,
    NginxHandle,
    SquidHandle,
    get_docroot,
    start_nghttpd,
    start_nginx,
    start_squid,
)
from tests.servers.raw import RawServer  # noqa: E402

# --------------------------------------------------------------------------- markers


def pytest_configure(config: pytest.Config) -> None:
    for line in (
        "both_loops: run the test under the asyncio and the uvloop event loop (see conftest.py)",
        "interop: needs a real nginx / nghttpd / squid (skipped with a reason when missing)",
        "slow: takes more than a few seconds",
        "fuzz: property-based / fuzz test (CRT_HTTP_FUZZ_EXAMPLES sets the example count)",
    ):
        config.addinivalue_line("markers", line)


# --------------------------------------------------------------------------- loops


def _uvloop_available() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def _uvloop_factory() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        pytest.skip("uvloop is not importable")
    return uvloop.new_event_loop()


LOOP_FACTORIES: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": _uvloop_factory,
}
_ASYNCIO_ONLY = {"asyncio": LOOP_FACTORIES["asyncio"]}


@pytest.hookimpl(optionalhook=True)
def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    """pytest-asyncio hook: both loops for ``both_loops`` tests, asyncio for the rest."""
    if item.get_closest_marker("both_loops") is not None:
        return LOOP_FACTORIES
    return _ASYNCIO_ONLY


def _is_async(fn: Any) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if (
        "loop_impl" in metafunc.fixturenames
        and metafunc.definition.get_closest_marker("both_loops") is not None
        and not _is_async(metafunc.function)
    ):
        metafunc.parametrize(
            "loop_impl",
            [
                "asyncio",
                pytest.param(
                    "uvloop",
                    marks=pytest.mark.skipif(not _uvloop_available(), reason="uvloop is not importable"),
                ),
            ],
            indirect=True,
        )


@pytest.fixture
def loop_impl(request: pytest.FixtureRequest) -> str:
    """Name of the event loop implementation this test runs under: "asyncio" or "uvloop"."""
    if hasattr(request, "param"):
        return str(request.param)
    if "_asyncio_loop_factory" in request.fixturenames:
        factory = request.getfixturevalue("_asyncio_loop_factory")
        for name, f in LOOP_FACTORIES.items():
            if f is factory:
                return name
    return "asyncio"


# --------------------------------------------------------------------------- certificates


@pytest.fixture(scope="session")
def ca() -> Iterator[CertBundle]:
    bundle = get_certs()
    yield bundle
    bundle.cleanup()


@pytest.fixture(scope="session")
def client_ca_pem(ca: CertBundle) -> bytes:
    return ca.ca_pem


@pytest.fixture(scope="session")
def client_ca_file(ca: CertBundle) -> str:
    return ca.ca_file


# --------------------------------------------------------------------------- our servers


def _finish(servers: list[ThreadedServer]) -> None:
    problems = []
    for s in servers:
        try:
            s.stop()
        except RuntimeError as e:
            problems.append(str(e))
        if s.errors:
            problems.append(f"{type(s).__name__} on port {s.port} recorded errors: {s.errors!r}")
    if problems:
        pytest.fail("; ".join(problems), pytrace=False)


@pytest.fixture
def h1_server(ca: CertBundle) -> Iterator[H1Server]:
    s = H1Server()
    yield s
    _finish([s])


@pytest.fixture
def h1_tls_server(ca: CertBundle) -> Iterator[H1Server]:
    s = H1Server(tls=True, certs=ca)
    yield s
    _finish([s])


@pytest.fixture
def h2_tls_server(ca: CertBundle) -> Iterator[H2Server]:
    s = H2Server(tls=True, certs=ca)
    yield s
    _finish([s])


@pytest.fixture
def h2c_server(ca: CertBundle) -> Iterator[H2Server]:
    s = H2Server(tls=False)
    yield s
    _finish([s])


def _server_factory(ca: CertBundle, cls: Callable[..., ThreadedServer]) -> Iterator[Callable[..., Any]]:
    """A factory making ``cls`` servers with the session certs; all stopped at teardown."""
    made: list[ThreadedServer] = []

    def make(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("certs", ca)
        s = cls(*args, **kwargs)
        made.append(s)
        return s

    yield make
    _finish(made)


@pytest.fixture
def make_h1_server(ca: CertBundle) -> Iterator[Callable[..., H1Server]]:
    yield from _server_factory(ca, H1Server)


@pytest.fixture
def make_h2_server(ca: CertBundle) -> Iterator[Callable[..., H2Server]]:
    yield from _server_factory(ca, H2Server)


@pytest.fixture
def raw_server(ca: CertBundle) -> Iterator[Callable[..., RawServer]]:
    """``raw_server(handler=None, **RawServer kwargs)``."""
    yield from _server_factory(ca, RawServer)


# --------------------------------------------------------------------------- interop servers


@pytest.fixture(scope="session")
def docroot() -> Iterator[Docroot]:
    d = get_docroot()
    yield d
    d.cleanup()


@pytest.fixture(scope="session")
def nginx(ca: CertBundle, docroot: Docroot) -> Iterator[NginxHandle]:
    try:
        handle = start_nginx(certs=ca, docroot=docroot)
    except MissingBinary as e:
        pytest.skip(str(e))
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def nghttpd(ca: CertBundle, docroot: Docroot) -> Iterator[NghttpdHandle]:
    try:
        handle = start_nghttpd(ca, docroot, tls=True)
    except MissingBinary as e:
        pytest.skip(str(e))
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def nghttpd_h2c(ca: CertBundle, docroot: Docroot) -> Iterator[NghttpdHandle]:
    try:
        handle = start_nghttpd(ca, docroot, tls=False)
    except MissingBinary as e:
        pytest.skip(str(e))
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def squid() -> Iterator[SquidHandle]:
    try:
        handle = start_squid()
    except MissingBinary as e:
        pytest.skip(str(e))
    yield handle
    handle.stop()
