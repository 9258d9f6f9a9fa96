"""crt_http's drop-in modules carry awscrt 0.38.0's public names with awscrt's signatures.

Compared with ``inspect.signature`` against the installed awscrt: parameter names, kinds,
order and defaults must match; crt_http may only add keyword-only parameters (with
defaults) after awscrt's. Modules: ``awscrt.http`` / ``crt_http.http``, ``awscrt.aio.http`` /
``crt_http.aio.http``, ``awscrt.exceptions`` / ``crt_http.exceptions`` (every public name) and
the ``awscrt.io`` names that API.md lists. Class hierarchies match too (API.md: the aio
classes derive from the bases of ``crt_http.http``; ``Http2ClientConnection`` is not an
``HttpClientConnection``).
"""

from __future__ import annotations

import concurrent.futures
import enum
import importlib
import inspect
from types import ModuleType
from typing import Any, Iterator, List, Optional, Tuple

import pytest

pytest.importorskip("awscrt", reason="awscrt 0.38.0 is the reference (extra 'bench')")

MODULES = [
    ("awscrt.http", "crt_http.http"),
    ("awscrt.aio.http", "crt_http.aio.http"),
    ("awscrt.exceptions", "crt_http.exceptions"),
]

# API.md, section "io": the awscrt.io names crt_http.io offers.
IO_NAMES = [
    "TlsContextOptions", "ClientTlsContext", "TlsConnectionOptions", "is_alpn_available",
    "TlsVersion", "TlsCipherPref", "SocketOptions", "SocketDomain", "SocketType",
    "EventLoopGroup", "DefaultHostResolver", "ClientBootstrap", "HostResolverBase",
    "InputStream", "init_logging", "set_log_level", "LogLevel",
]

# Public names of awscrt modules that are not part of an HTTP client's API.
NOT_API = {
    "NativeResource": "awscrt's base class of objects backed by its C library; nothing to offer in pure Python",
}

# Constructors whose signature differs on purpose.
CTOR_EXCEPTIONS = {
    "HttpMessageBase": "awscrt's first parameter is its native handle; crt_http's base takes (headers, body_stream)",
}


def _public_names(module: ModuleType) -> List[str]:
    """Names a user may import: awscrt's own objects and re-exported Future, not typing or
    stdlib helpers that happen to be imported there."""
    names = []
    for name in dir(module):
        value = getattr(module, name)
        if name.startswith("_") or inspect.ismodule(value) or name in NOT_API:
            continue
        if value is concurrent.futures.Future or (getattr(value, "__module__", "") or "").startswith("awscrt"):
            names.append(name)
    return names


def _pairs() -> Iterator[Tuple[str, Any, Any]]:
    for theirs_name, ours_name in MODULES:
        theirs, ours = importlib.import_module(theirs_name), importlib.import_module(ours_name)
        for name in _public_names(theirs):
            yield f"{ours_name}.{name}", getattr(theirs, name), getattr(ours, name, None)
    theirs, ours = importlib.import_module("awscrt.io"), importlib.import_module("crt_http.io")
    for name in IO_NAMES:
        yield f"crt_http.io.{name}", getattr(theirs, name), getattr(ours, name, None)


PAIRS = list(_pairs())


def _same_default(a: Any, b: Any) -> bool:
    if isinstance(a, enum.Enum) and isinstance(b, enum.Enum):
        return type(a).__name__ == type(b).__name__ and a.name == b.name and a.value == b.value
    return type(a) is type(b) and a == b


def signature_problem(theirs: Any, ours: Any) -> Optional[str]:
    """None if ``ours`` accepts every call ``theirs`` accepts, with the same meaning."""
    try:
        t_sig = inspect.signature(theirs)
    except (TypeError, ValueError):
        return None  # a builtin without a signature: nothing to compare
    o_sig = inspect.signature(ours)
    t_params, o_params = list(t_sig.parameters.values()), list(o_sig.parameters.values())
    for i, tp in enumerate(t_params):
        if i >= len(o_params):
            return f"missing parameter {tp.name!r} in {o_sig}"
        op = o_params[i]
        if (op.name, op.kind) != (tp.name, tp.kind):
            return f"parameter {i} is {op.name!r} ({op.kind.name}), awscrt: {tp.name!r} ({tp.kind.name})"
        if (tp.default is tp.empty) != (op.default is op.empty) or (
                tp.default is not tp.empty and not _same_default(tp.default, op.default)):
            return f"default of {tp.name!r} is {op.default!r}, awscrt: {tp.default!r}"
    for op in o_params[len(t_params):]:
        if op.kind is op.VAR_KEYWORD:
            continue
        if op.kind is not op.KEYWORD_ONLY or op.default is op.empty:
            return f"added parameter {op.name!r} must be keyword-only with a default ({o_sig})"
    return None


def _members(cls: type) -> Iterator[Tuple[str, Any]]:
    for name in dir(cls):
        if not name.startswith("_"):
            yield name, inspect.getattr_static(cls, name)


def _callable_member(static: Any) -> bool:
    return isinstance(static, (staticmethod, classmethod)) or inspect.isfunction(static) or (
        callable(static) and not inspect.isclass(static) and not isinstance(static, enum.Enum))


@pytest.mark.parametrize("qualname,theirs,ours", PAIRS, ids=[p[0] for p in PAIRS])
def test_name_exists_with_awscrt_signature(qualname: str, theirs: Any, ours: Any) -> None:
    assert ours is not None, f"{qualname} is missing"
    if theirs is concurrent.futures.Future:
        assert ours is concurrent.futures.Future
        return
    assert inspect.isclass(ours) == inspect.isclass(theirs), qualname
    if not inspect.isclass(theirs):
        assert signature_problem(theirs, ours) is None, f"{qualname}: {signature_problem(theirs, ours)}"
        return
    problems = []
    if theirs.__name__ not in CTOR_EXCEPTIONS and not issubclass(theirs, enum.Enum):
        problem = signature_problem(theirs, ours)
        if problem:
            problems.append(f"constructor: {problem}")
    for name, t_static in _members(theirs):
        if not hasattr(ours, name):
            problems.append(f"missing {name}")
            continue
        o_static = inspect.getattr_static(ours, name)
        if isinstance(t_static, property):
            # A property, a slot or a class attribute all read the same.
            assert not _callable_member(o_static) or isinstance(o_static, property), (qualname, name)
        if _callable_member(t_static):
            if type(t_static) is not type(o_static):
                problems.append(f"{name} is a {type(o_static).__name__}, awscrt: {type(t_static).__name__}")
            problem = signature_problem(getattr(theirs, name), getattr(ours, name))
            if problem:
                problems.append(f"{name}: {problem}")
    assert not problems, f"{qualname}: " + "; ".join(problems)


def _api_bases(cls: type) -> List[str]:
    return [c.__name__ for c in cls.__mro__[1:]
            if not c.__name__.startswith("_") and c.__name__ not in NOT_API
            and c.__module__ not in ("builtins", "enum")]


@pytest.mark.parametrize("qualname,theirs,ours",
                         [p for p in PAIRS if inspect.isclass(p[1]) and p[2] is not None],
                         ids=[p[0] for p in PAIRS if inspect.isclass(p[1]) and p[2] is not None])
def test_class_hierarchy_matches(qualname: str, theirs: type, ours: type) -> None:
    assert _api_bases(ours) == _api_bases(theirs), qualname


def test_signature_checker_can_fail() -> None:
    """The comparison rejects what API.md forbids: renamed, reordered or new positional
    parameters, changed defaults; it allows added keyword-only ones."""
    def ref(a: int, b: int = 1) -> None: ...
    def renamed(a: int, c: int = 1) -> None: ...
    def default(a: int, b: int = 2) -> None: ...
    def positional_extra(a: int, b: int = 1, c: int = 0) -> None: ...
    def keyword_extra(a: int, b: int = 1, *, c: int = 0) -> None: ...
    def keyword_no_default(a: int, b: int = 1, *, c: int) -> None: ...

    assert signature_problem(ref, renamed)
    assert signature_problem(ref, default)
    assert signature_problem(ref, positional_extra)
    assert signature_problem(ref, keyword_no_default)
    assert signature_problem(ref, keyword_extra) is None


def test_extras_are_keyword_only_and_documented() -> None:
    """What crt_http adds beyond awscrt is keyword-only (checked above) and documented:
    EventLoopGroup's loop_impl and the CRT_HTTP_LOOP environment variable."""
    from crt_http.io import EventLoopGroup

    param = inspect.signature(EventLoopGroup).parameters["loop_impl"]
    assert param.kind is param.KEYWORD_ONLY and param.default is None
    doc = inspect.getdoc(EventLoopGroup) or ""
    assert "loop_impl" in doc and "CRT_HTTP_LOOP" in doc and "uvloop" in doc


def _weakrefable(obj: Any) -> bool:
    import weakref

    try:
        weakref.ref(obj)
    except TypeError:
        return False
    return True


@pytest.mark.parametrize("name", ["HttpRequest", "HttpHeaders", "HttpProxyOptions", "Http2Setting"])
def test_models_are_weak_referenceable_as_in_awscrt(name: str) -> None:
    """A program may keep weak references to what awscrt lets it (the lifetime tests do)."""
    import awscrt.http

    import crt_http.http

    def make(module: Any) -> Any:
        if name == "Http2Setting":
            return module.Http2Setting(module.Http2SettingID(1), 4096)
        return getattr(module, name)(*({"HttpProxyOptions": ("localhost", 8080)}.get(name, ())))

    assert _weakrefable(make(crt_http.http)) == _weakrefable(make(awscrt.http))
