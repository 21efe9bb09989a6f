"""Races between processes on one database, on each database available (`any_url`:
SQLite, and PostgreSQL when ``DOCKYARD_TEST_POSTGRES_URL`` is set; always under CI).

Every test here runs real Python processes, started together, each with its own `Store`
(and `Runtime`) as worker processes of ``dockyard serve`` have:

- processes creating the same instance at once make exactly one instance, whose
  ``instance_init`` runs exactly once;
- ``storage.update`` loses no update of any process;
- a key revoked (an instance deleted) in one process is refused (gone) in another at its
  very next request, whatever that process cached.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.store import Store

from .conftest import StoreFactory

START_TIMEOUT = 60.0

#: The package the processes race over (written to a file: each process imports it).
PACKAGE = '''
import os
import time

from dockyard import PackageService, post


class Racer(PackageService):
    """instance_init counts its runs (atomically) and takes its time."""

    def instance_init(self) -> None:
        self.storage.update("inits", lambda n: n + 1, 0)
        self.storage.update("init_pids", lambda pids: [*pids, os.getpid()], [])
        # A wide window for the others to try too.
        time.sleep(float(os.environ.get("RACER_INIT_SECONDS", "0.3")))

    @post("bump")
    def bump(self) -> int:
        return self.storage.update("n", lambda n: n + 1, 0)
'''

#: One racing process: waits for the start signal, then runs its part.
RACER = """
import importlib.util, json, pathlib, sys, time

url, folder, index, task = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3], sys.argv[4]
args = json.loads(sys.argv[5])
spec = importlib.util.spec_from_file_location("racer_package", folder / "racer_package.py")
module = importlib.util.module_from_spec(spec)
sys.modules["racer_package"] = module
spec.loader.exec_module(module)

from dockyard.runtime import Runtime
from dockyard.store import Store

store = Store(url, init_stale_after=args.get("stale", 20.0))
runtime = Runtime(store, packages={"racer": module.Racer})
(folder / f"ready-{index}").touch()
while not (folder / "go").exists():  # start together, so the attempts interleave
    time.sleep(0.001)
result = None
if task == "use":
    instance = args["instance"].format(index=index)
    record = runtime.use("alice", "racer", instance, workspace=args.get("workspace"), config={})
    result = {"id": record.id, "state": record.init_state}
elif task == "update":
    data = store.storage(args["instance_id"])
    for _ in range(args["rounds"]):
        data.update("counter", lambda n: n + 1, 0)
    result = data.get("counter")
print(json.dumps(result))
store.close()
"""


def race(
    url: str,
    folder: Path,
    processes: int,
    task: str,
    env: dict[str, str] | None = None,
    **args: Any,
) -> list[Any]:
    """Run ``task`` in ``processes`` processes released at once; what each printed."""
    (folder / "racer_package.py").write_text(textwrap.dedent(PACKAGE))
    for stale in [*folder.glob("ready-*"), folder / "go"]:
        stale.unlink(missing_ok=True)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, url, str(folder), str(n), task, json.dumps(args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        for n in range(processes)
    ]
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while len(list(folder.glob("ready-*"))) < processes:
            for worker in workers:
                if worker.poll() is not None:
                    pytest.fail(f"a racing process died: {worker.communicate()[1]}")
            assert time.monotonic() < deadline, "the racing processes did not start"
            time.sleep(0.01)
        (folder / "go").touch()
        results = []
        for worker in workers:
            out, err = worker.communicate(timeout=120)
            assert worker.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for worker in workers:
            if worker.poll() is None:  # pragma: no cover - only after a failure above
                worker.kill()
                worker.wait()


@pytest.fixture
def store(make_store: StoreFactory, any_url: str) -> Store:
    """The test's view of the database the processes race on (``alice`` exists)."""
    opened = make_store(any_url)
    opened.ensure_user("alice")
    return opened


# --- creation -----------------------------------------------------------------------------


def test_processes_creating_one_instance_make_one_and_initialise_it_once(
    store: Store, any_url: str, tmp_path: Path
) -> None:
    processes = 6
    results = race(any_url, tmp_path, processes, "use", instance="shared")
    # Everyone got the one instance, ready (the losers waited for the winner's init).
    assert len({r["id"] for r in results}) == 1, results
    assert {r["state"] for r in results} == {"ready"}
    assert [(r.workspace, r.handle) for r in store.list_instances("alice")] == [
        ("shared", "shared")
    ]
    record = store.get_instance("shared", "shared")
    assert record is not None
    assert record.id == results[0]["id"]
    data = store.storage(record.id)
    assert data.get("inits") == 1
    assert len(data.get("init_pids")) == 1


def test_processes_creating_different_instances_in_one_new_workspace(
    store: Store, any_url: str, tmp_path: Path
) -> None:
    # The workspace does not exist yet: every process creates it along with its instance.
    results = race(any_url, tmp_path, 4, "use", instance="member-{index}", workspace="team")
    assert len({r["id"] for r in results}) == 4
    listed = store.list_instances("alice")
    assert [(r.workspace, r.handle) for r in listed] == [("team", f"member-{n}") for n in range(4)]
    assert all(store.storage(r.id).get("inits") == 1 for r in listed)


def test_a_long_init_is_renewed_not_taken_over(store: Store, any_url: str, tmp_path: Path) -> None:
    # Claims lapse after 1 s without renewal; the init takes 3 s; the runtime renews its
    # claim meanwhile, so the other processes wait for it instead of running it again.
    results = race(
        any_url,
        tmp_path,
        3,
        "use",
        env={"RACER_INIT_SECONDS": "3"},
        instance="long",
        stale=1.0,
    )
    assert {r["state"] for r in results} == {"ready"}
    record = store.get_instance("long", "long")
    assert record is not None
    assert store.storage(record.id).get("inits") == 1


def test_an_init_killed_mid_way_is_run_again_once_its_claim_lapses(
    store: Store, any_url: str, tmp_path: Path
) -> None:
    (tmp_path / "racer_package.py").write_text(textwrap.dedent(PACKAGE))
    (tmp_path / "go").touch()
    arguments = json.dumps({"instance": "killed", "stale": 1.0})
    victim = subprocess.Popen(
        [sys.executable, "-c", RACER, any_url, str(tmp_path), "0", "use", arguments],
        env={**os.environ, "RACER_INIT_SECONDS": "60"},
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:  # until its instance_init runs
            record = store.get_instance("killed", "killed")
            if record is not None and store.storage(record.id).get("inits") == 1:
                break
            assert victim.poll() is None, "the process died before its instance_init"
            assert time.monotonic() < deadline, "instance_init did not start"
            time.sleep(0.02)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    assert record.id is not None
    stuck = store.get_instance_by_id(record.id)
    assert stuck is not None
    assert stuck.init_state == "initializing"
    # The next use waits for the dead claim to lapse (1 s), then runs instance_init.
    [result] = race(any_url, tmp_path, 1, "use", instance="killed", stale=1.0)
    assert result == {"id": record.id, "state": "ready"}
    assert store.storage(record.id).get("inits") == 2


# --- storage.update ----------------------------------------------------------------------


def test_update_loses_nothing_across_processes(store: Store, any_url: str, tmp_path: Path) -> None:
    record = store.create_instance(
        owner="alice", workspace="ws", handle="count", package="racer", version="1", config={}
    )
    processes, rounds = 4, 250
    finals = race(any_url, tmp_path, processes, "update", instance_id=record.id, rounds=rounds)
    assert store.storage(record.id).get("counter") == processes * rounds
    # Each process's last update saw at least its own updates.
    assert all(rounds <= final <= processes * rounds for final in finals)
    assert max(finals) == processes * rounds


# --- revocation and deletion -------------------------------------------------------------

#: A long-lived process answering one JSON command per line, as a server worker answers
#: requests: its Store (and whatever it caches) lives across commands.
PEER = """
import json, sys
from dockyard.store import Store

store = Store(sys.argv[1])
for line in sys.stdin:
    command = json.loads(line)
    if command["do"] == "authenticate":
        user = store.authenticate(command["key"])
        answer = None if user is None else user.handle
    elif command["do"] == "exists":
        answer = store.instance_exists(command["id"])
    print(json.dumps(answer), flush=True)
store.close()
"""


class Peer:
    """Another process with its own Store on the same database."""

    def __init__(self, url: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", PEER, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, **command: Any) -> Any:
        process = self.process
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(json.dumps(command) + "\n")
        process.stdin.flush()
        line = process.stdout.readline()
        assert line, "the peer process died"
        return json.loads(line)

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:  # pragma: no cover - only if it hangs
                self.process.kill()
                self.process.wait()
            if self.process.stdout is not None:
                self.process.stdout.close()


@pytest.fixture
def peer(any_url: str, store: Store) -> Iterator[Peer]:
    started = Peer(any_url)
    yield started
    started.close()


def test_a_key_revoked_in_one_process_is_refused_by_another_at_its_next_request(
    store: Store, peer: Peer
) -> None:
    record, key = store.create_key("alice", "revoked")
    _, kept = store.create_key("alice", "kept")
    for _ in range(5):  # warm whatever the peer caches
        assert peer.ask(do="authenticate", key=key) == "alice"
        assert peer.ask(do="authenticate", key=kept) == "alice"
    store.revoke_key("alice", record.id)
    assert peer.ask(do="authenticate", key=key) is None  # the very next request
    assert peer.ask(do="authenticate", key=kept) == "alice"
    assert peer.ask(do="authenticate", key=key) is None


def test_an_instance_deleted_in_one_process_is_gone_in_another_at_its_next_check(
    store: Store, peer: Peer
) -> None:
    record = store.create_instance(
        owner="alice", workspace="ws", handle="doomed", package="racer", version="1", config={}
    )
    for _ in range(5):
        assert peer.ask(do="exists", id=record.id) is True
    assert store.delete_instance("alice", "ws", "doomed")
    assert peer.ask(do="exists", id=record.id) is False
