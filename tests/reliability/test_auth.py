"""The auth matrix over real HTTP, for every route of every example served: no key, a
wrong key, a key with a real key's prefix but the wrong secret, and a revoked key are all
401; another user's key is 404 (their instances do not exist for it); public routes
answer anyone. Then the keys' secrecy: compared only as hashes, in constant time, and
never stored or logged in the clear.

The routes come from each instance's own OpenAPI document (so a route added to an example
is in the matrix at once), plus the server's routes on an instance (``__openapi__``, the
explorer's spec, the management API).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import dockyard.store.keys as keys_module
from dockyard.store import Store

if TYPE_CHECKING:
    from conftest import Reply, Served

#: The instances: name -> (package or plugin handle, config, is a plugin, public routes).
INSTANCES: dict[str, tuple[str, dict[str, Any] | None, bool, set[str]]] = {
    "hello": ("my-package", None, False, set()),
    "kiosk": ("kiosk", None, False, {"GET /hours"}),
    "shelf": ("shelf", None, False, set()),
    "review-desk": ("review-desk", None, False, set()),
    "docsearch": ("docsearch", {"file_importer": {"allow_http": False}}, False, set()),
    "keyword-sentiment": ("keyword-sentiment", None, True, set()),
}
#: Who calls: the label of each refused credential.
REFUSED = ("no key", "wrong key", "right prefix, wrong secret", "revoked key")


@dataclass
class World:
    """The server, the instances (name -> base path) and the keys used against them."""

    served: Served
    bases: dict[str, str]
    owner: str
    bob: str
    revoked: str
    wrong: str
    same_prefix: str

    def key_of(self, who: str) -> str | None:
        return {
            "no key": None,
            "wrong key": self.wrong,
            "right prefix, wrong secret": self.same_prefix,
            "revoked key": self.revoked,
            "another user's key": self.bob,
            "owner": self.owner,
        }[who]

    def all_keys(self) -> list[str]:
        return [self.owner, self.bob, self.revoked, self.wrong, self.same_prefix]


@pytest.fixture(scope="module")
def world(reliability_server: Served) -> World:
    served = reliability_server
    bases = {
        name: served.use(handle, f"auth-{name}", config, plugin=plugin)
        for name, (handle, config, plugin, _) in INSTANCES.items()
    }
    revoked = served.new_key("local")
    assert served.call("GET", "/__api__/whoami", key=revoked).status == 200  # it worked once
    done = served.cli("keys", "revoke", revoked, "--user", "local")
    assert done.returncode == 0, done.stderr
    owner = served.key
    rest = secrets.token_urlsafe(32)[: len(owner) - 11]
    return World(
        served=served,
        bases=bases,
        owner=owner,
        bob=served.new_key("bob"),
        revoked=revoked,
        wrong="dk_" + secrets.token_urlsafe(32),
        same_prefix=owner[:11] + rest,
    )


def _operations(world: World, name: str) -> Iterator[tuple[str, str, bool]]:
    """(verb, path under the base, public) of every route of instance ``name``: its
    OpenAPI operations and the server's routes on an instance."""
    base = world.bases[name]
    document = world.served.call("GET", f"{base}__openapi__", key=world.owner).json()
    for path, operations in document["paths"].items():
        for verb, operation in operations.items():
            public = operation.get("security", document["security"]) == []
            yield verb.upper(), path.replace("{task_id}", "no-such-task").lstrip("/"), public
    yield "GET", "__openapi__", False
    yield "GET", "__docs__/spec", False


def _call(world: World, verb: str, path: str, who: str) -> Reply:
    body = {} if verb != "GET" else None
    return world.served.call(verb, path, body, key=world.key_of(who))


@pytest.mark.parametrize("name", list(INSTANCES))
def test_the_public_routes_are_exactly_the_declared_ones(world: World, name: str) -> None:
    public = {f"{verb} /{path}" for verb, path, is_public in _operations(world, name) if is_public}
    assert public == INSTANCES[name][3]


@pytest.mark.parametrize("who", REFUSED)
@pytest.mark.parametrize("name", list(INSTANCES))
def test_every_private_route_refuses_a_missing_or_bad_key(
    world: World, name: str, who: str
) -> None:
    base = world.bases[name]
    checked = 0
    for verb, path, public in _operations(world, name):
        if public:
            continue
        reply = _call(world, verb, f"{base}{path}", who)
        assert reply.status == 401, (verb, path, reply)
        assert reply.json()["error"]["code"] == "unauthorized", (verb, path, reply)
        assert reply.headers["www-authenticate"].startswith("Bearer"), reply.headers
        checked += 1
    assert checked >= 5


@pytest.mark.parametrize("name", list(INSTANCES))
def test_another_users_key_finds_no_such_instance(world: World, name: str) -> None:
    base = world.bases[name]
    for verb, path, public in _operations(world, name):
        if public:
            continue
        reply = _call(world, verb, f"{base}{path}", "another user's key")
        assert reply.status == 404, (verb, path, reply)
        assert reply.json()["error"]["code"] in {"instance_not_found", "not_found"}, reply
    workspace, handle = base.strip("/").split("/")
    for verb in ("GET", "DELETE"):
        reply = _call(world, verb, f"/__api__/instances/{workspace}/{handle}", "another user's key")
        assert reply.status == 404, (verb, reply)
    # Bob's list does not show it, and his DELETE deleted nothing.
    listed = world.served.call("GET", "/__api__/instances", key=world.bob).json()
    assert all(record["handle"] != handle for record in listed)
    assert world.served.call("GET", f"{base}__openapi__", key=world.owner).status == 200


@pytest.mark.parametrize("who", REFUSED)
def test_the_management_api_refuses_a_missing_or_bad_key(world: World, who: str) -> None:
    workspace, handle = world.bases["hello"].strip("/").split("/")
    for verb, path in [
        ("GET", "/__api__/whoami"),
        ("GET", "/__api__/instances"),
        ("POST", "/__api__/instances"),
        ("GET", f"/__api__/instances/{workspace}/{handle}"),
        ("DELETE", f"/__api__/instances/{workspace}/{handle}"),
    ]:
        reply = _call(world, verb, path, who)
        assert reply.status == 401, (verb, path, reply)
    assert (
        world.served.call("GET", f"{world.bases['hello']}__openapi__", key=world.owner).status
        == 200
    )


def test_without_a_key_an_unknown_instance_is_401_not_404(world: World) -> None:
    """Whether an instance exists is not told to a caller without a key."""
    for path in ("/no-such/instance/say_hello", f"{world.bases['hello']}say_hello"):
        assert world.served.call("GET", path).status == 401


@pytest.mark.parametrize("who", [None, "another user's key", "owner"])
def test_public_routes_answer_anyone(world: World, who: str | None) -> None:
    key = world.key_of(who) if who is not None else None
    reply = world.served.call("GET", f"{world.bases['kiosk']}hours?day=tue", key=key)
    assert (reply.status, reply.body) == (200, b"tue: 08:00-18:00")
    assert world.served.call("GET", "/__health__", key=key).status == 200


def test_the_owner_is_let_in(world: World) -> None:
    served = world.served
    assert served.call("GET", f"{world.bases['hello']}say_hello", key=world.owner).body == (
        b"Hello, World!"
    )
    assert served.call("GET", "/__api__/whoami", key=world.bob).json() == {"user": "bob"}


# --- keys are compared as hashes, in constant time ------------------------------------------


def test_a_presented_key_is_only_compared_as_a_hash_in_constant_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Authentication finds the row by the key's non-secret prefix, then compares SHA-256
    digests with `hmac.compare_digest`: the secret itself is never compared, so the time
    taken says nothing about how much of it was right."""
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(keys_module.hmac, "compare_digest", spy)  # the one hmac module
    store = Store(home=tmp_path)
    try:
        store.ensure_user("alice")
        _, key = store.create_key("alice")
        guess = key[:11] + "A" * (len(key) - 11)  # the right prefix, a wrong secret
        assert store.authenticate(guess) is None
        stored = _stored_hash(tmp_path / "dockyard.db", key)
        assert calls == [(hashlib.sha256(guess.encode()).hexdigest(), stored)]
        assert all(len(a) == len(b) == 64 and key not in (a, b) for a, b in calls)
        calls.clear()
        assert store.authenticate(key) is not None
        assert calls == [(hashlib.sha256(key.encode()).hexdigest(),) * 2]
    finally:
        store.close()


def _stored_hash(database: Path, key: str) -> str:
    """The hash stored for ``key`` (found by its prefix, as authentication finds it)."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        (stored,) = conn.execute(
            "SELECT key_hash FROM dockyard_api_keys WHERE prefix = ?", (key[3:11],)
        ).fetchone()
    assert isinstance(stored, str)
    return stored


# --- never stored or logged in the clear ----------------------------------------------------


def _secrets(key: str) -> list[bytes]:
    """What must not be found: the key, and its secret part (after the public prefix)."""
    return [key.encode(), key[11:].encode()]


def test_keys_are_stored_hashed_never_in_the_clear(world: World) -> None:
    # Use every key once more, so anything a request might write is written.
    for key in world.all_keys():
        world.served.call("GET", f"{world.bases['hello']}say_hello", key=key)
    home = world.served.home
    database = home / "dockyard.db"
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT prefix, key_hash, revoked_at FROM dockyard_api_keys").fetchall()
    stored = {prefix: (key_hash, revoked) for prefix, key_hash, revoked in rows}
    for key in (world.owner, world.bob, world.revoked):
        key_hash, revoked = stored[key[3:11]]
        assert key_hash == hashlib.sha256(key.encode()).hexdigest()
        assert (revoked is not None) == (key == world.revoked)
    # No file of the store (database, WAL, shared memory, generation) holds a key.
    files = [p for p in home.iterdir() if p.is_file() and p.name.startswith("dockyard.db")]
    assert database in files
    for path in files:
        data = path.read_bytes()
        for key in world.all_keys():
            for secret in _secrets(key):
                assert secret not in data, (path.name, key[:11])


def test_keys_are_never_logged(world: World) -> None:
    for key in world.all_keys():  # accepted, refused, on a 404 and on a 405
        world.served.call("GET", f"{world.bases['hello']}say_hello", key=key)
        world.served.call("GET", "/no-such/instance/x", key=key)
        world.served.call("GET", f"{world.bases['hello']}do_something", key=key)
    log = world.served.log_path.read_bytes()
    assert b"say_hello" in log  # the access log is there, and it is this log
    # The one line allowed: `dockyard serve` prints the local key it creates on first start
    # (documented), on the console it was started from.
    announced = [line for line in log.splitlines() if world.owner.encode() in line]
    assert all(line.startswith(b"Created the local API key") for line in announced), announced
    assert len(announced) <= 1
    rest = b"\n".join(line for line in log.splitlines() if line not in announced)
    for key in world.all_keys():
        for secret in _secrets(key):
            assert secret not in rest, key[:11]
