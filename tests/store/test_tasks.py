"""Tests for dockyard.store.tasks: `TaskQueue` on a real database (an SQLite file; also
PostgreSQL when ``DOCKYARD_TEST_POSTGRES_URL`` is set, see ``conftest.py``)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from dockyard.store import InstanceRecord, Store
from dockyard.store.tasks import (
    LOST_RUN_LIMIT,
    TASK_STATES,
    TaskNotFoundError,
    TaskQueue,
    TaskRecord,
    TaskStateError,
)

LEASE = 30.0  # a lease that does not run out during a test
SHORT = 0.05  # one that does, after a short sleep


@pytest.fixture
def queue(any_store: Store) -> TaskQueue:
    return any_store.tasks


@pytest.fixture
def other(any_store: Store) -> InstanceRecord:
    """A second instance, ``ws/two``, of ``alice``."""
    return any_store.create_instance(
        owner="alice", workspace="ws", handle="two", package="pkg", version="1.0", config={}
    )


def add(
    queue: TaskQueue,
    instance: InstanceRecord,
    method: str = "/m",
    *,
    arguments: dict[str, Any] | None = None,
    wait_on: list[TaskRecord] | None = None,
    delay_ms: int = 0,
    max_attempts: int = 1,
) -> TaskRecord:
    return queue.create(
        instance_id=instance.id,
        user="alice",
        verb="POST",
        method=method,
        arguments=arguments or {},
        wait_on=[t.id for t in wait_on or []],
        delay_ms=delay_ms,
        max_attempts=max_attempts,
    )


def claim(queue: TaskQueue, worker: str = "w", lease: float = LEASE) -> TaskRecord | None:
    """The one task ``worker`` claims next, or None."""
    claimed = queue.claim(worker, lease)
    assert len(claimed) <= 1
    return claimed[0] if claimed else None


def now() -> datetime:
    return datetime.now(timezone.utc)


def expire() -> None:
    """Let a `SHORT` lease run out."""
    time.sleep(SHORT * 2)


# --- create / get / counts -----------------------------------------------------------------


def test_create_then_get(queue: TaskQueue, instance: InstanceRecord) -> None:
    before = now()
    task = add(queue, instance, "/greet", arguments={"name": "Ted", "n": [1, None]}, max_attempts=3)
    assert task.state == "waiting"
    assert len(task.id) == 32
    assert task.instance_id == instance.id
    assert task.scheduled_by == "alice"
    assert (task.verb, task.method) == ("POST", "/greet")
    assert task.arguments == {"name": "Ted", "n": [1, None]}
    assert task.pending == 0
    assert (task.attempts, task.max_attempts, task.lost_runs) == (0, 3, 0)
    assert before <= task.created_at <= now()
    assert task.run_after == task.created_at
    assert task.output is None
    assert task.error_code is None
    assert task.worker is None
    assert task.lease_until is None
    assert task.started_at is None
    assert task.finished_at is None
    assert task.wait_on == ()

    assert queue.get(task.id) == task
    assert queue.get(task.id, instance.id) == task


def test_get_unknown_or_of_another_instance(
    queue: TaskQueue, instance: InstanceRecord, other: InstanceRecord
) -> None:
    task = add(queue, instance)
    with pytest.raises(TaskNotFoundError) as raised:
        queue.get("f" * 32)
    assert raised.value.status == 404
    assert raised.value.code == "task_not_found"
    with pytest.raises(TaskNotFoundError):
        queue.get(task.id, other.id)


def test_a_delay_sets_run_after(queue: TaskQueue, instance: InstanceRecord) -> None:
    task = add(queue, instance, delay_ms=1500)
    assert task.run_after - task.created_at == timedelta(milliseconds=1500)


def test_counts_every_state(queue: TaskQueue, instance: InstanceRecord) -> None:
    assert queue.counts() == dict.fromkeys(TASK_STATES, 0)
    first, second, _ = (add(queue, instance) for _ in range(3))
    claimed = claim(queue, "w", LEASE)
    assert claimed is not None
    assert claimed.id == first.id
    queue.cancel(second.id, instance.id)
    assert queue.counts() == {
        "waiting": 1,
        "running": 1,
        "succeeded": 0,
        "failed": 0,
        "cancelled": 1,
    }


def test_dependencies_are_counted_and_listed(queue: TaskQueue, instance: InstanceRecord) -> None:
    a, b = add(queue, instance), add(queue, instance)
    done = add(queue, instance)
    # Finish `done` first (claim order: a, b, done).
    claimed = [claim(queue, "w", LEASE) for _ in range(3)]
    assert [c.id for c in claimed if c] == [a.id, b.id, done.id]
    assert queue.succeed(claimed[2], "ok", "text/plain")  # type: ignore[arg-type]

    joined = add(queue, instance, wait_on=[b, a, done, a])
    # Duplicates once, the order given; only the dependencies not yet succeeded pend.
    assert joined.wait_on == (b.id, a.id, done.id)
    assert joined.pending == 2
    assert set(queue.get(joined.id).wait_on) == {a.id, b.id, done.id}


def test_waiting_on_unknown_or_foreign_tasks_schedules_nothing(
    queue: TaskQueue, instance: InstanceRecord, other: InstanceRecord
) -> None:
    theirs = add(queue, other)
    mine = add(queue, instance)
    for wanted in (["0" * 32], [mine.id, theirs.id]):
        with pytest.raises(TaskNotFoundError) as raised:
            queue.create(
                instance_id=instance.id,
                user="alice",
                verb="POST",
                method="/m",
                arguments={},
                wait_on=wanted,
            )
        assert raised.value.status == 404
        assert raised.value.details == {"unknown": [wanted[-1]]}
    assert queue.counts()["waiting"] == 2


# --- claim ---------------------------------------------------------------------------------


def test_claim_takes_the_oldest_due_task_first(queue: TaskQueue, instance: InstanceRecord) -> None:
    later = add(queue, instance, "/later", delay_ms=50)  # scheduled first, due later
    first, second = add(queue, instance, "/first"), add(queue, instance, "/second")
    time.sleep(0.1)
    order = [claim(queue, "w", LEASE) for _ in range(3)]
    assert [t.method for t in order if t] == ["/first", "/second", "/later"]
    assert order[2] is not None
    assert order[2].id == later.id
    assert claim(queue, "w", LEASE) is None
    assert {first.id, second.id} == {t.id for t in order[:2] if t}


def test_claim_and_succeed_record_the_time_they_happen(
    any_store: Store, queue: TaskQueue, instance: InstanceRecord
) -> None:
    # Regression: the clock was once read before taking the write lock, so under
    # contention a dependent's started_at could precede the finished_at of the task it
    # waited on (the time recorded was when the claim began waiting for the lock).
    if any_store.engine.dialect.name != "sqlite":
        pytest.skip("holds the SQLite write lock")
    add(queue, instance)
    claimed: list[TaskRecord | None] = []
    with any_store.engine.connect() as conn:
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # another writer holds the lock
        thread = threading.Thread(target=lambda: claimed.append(claim(queue)))
        thread.start()
        time.sleep(0.3)
        released = now()
        conn.exec_driver_sql("COMMIT")
    thread.join(30)
    assert claimed
    assert claimed[0] is not None
    assert claimed[0].started_at is not None
    assert claimed[0].started_at >= released


def test_a_dependent_never_starts_before_what_it_waited_on_finished(
    any_store: Store, queue: TaskQueue, instance: InstanceRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Regression (PostgreSQL, where no write lock orders transactions): a claim read the
    # clock, a success committed after that reading and released a dependent, and the
    # claim's query then found the dependent: it started "before" its dependency finished.
    if any_store.engine.dialect.name == "sqlite":
        pytest.skip("SQLite's write lock serializes the two (see the test above)")
    first = add(queue, instance)
    dependent = add(queue, instance, wait_on=[first])
    running = claim(queue)
    assert running is not None
    assert running.id == first.id

    import dockyard.store.tasks as tasks_module

    real_now = tasks_module._now
    read = threading.Event()  # the claimer has read the clock once...
    go_on = threading.Event()  # ...and waits here until the success is committed
    claimer: list[threading.Thread] = []

    def slow_clock() -> datetime:
        value = real_now()
        if claimer and threading.current_thread() is claimer[0] and not read.is_set():
            read.set()
            assert go_on.wait(30)
        return value

    monkeypatch.setattr(tasks_module, "_now", slow_clock)
    claimed: list[TaskRecord | None] = []
    thread = threading.Thread(target=lambda: claimed.append(claim(queue, "w2")))
    claimer.append(thread)
    thread.start()
    assert read.wait(30)
    assert queue.succeed(running, "done", "text/plain")
    go_on.set()
    thread.join(30)
    finished = queue.get(first.id).finished_at
    assert claimed
    assert claimed[0] is not None
    assert claimed[0].id == dependent.id
    assert finished is not None
    assert claimed[0].started_at is not None
    assert claimed[0].started_at >= finished
    assert queue.get(dependent.id).started_at == claimed[0].started_at


def test_a_claimed_task_is_running_with_a_lease(queue: TaskQueue, instance: InstanceRecord) -> None:
    task = add(queue, instance)
    before = now()
    claimed = claim(queue, "worker-1", 10.0)
    assert claimed is not None
    assert claimed.id == task.id
    assert claimed.state == "running"
    assert claimed.worker == "worker-1"
    assert claimed.attempts == 1
    assert claimed.lost_runs == 0
    assert claimed.started_at is not None
    assert before <= claimed.started_at <= now()
    assert claimed.lease_until is not None
    assert claimed.lease_until - claimed.started_at == timedelta(seconds=10)
    # Nobody else gets it while the lease holds.
    assert claim(queue, "worker-2", 10.0) is None


def test_delayed_and_dependent_tasks_are_not_claimed_early(
    queue: TaskQueue, instance: InstanceRecord
) -> None:
    add(queue, instance, "/delayed", delay_ms=60_000)
    dependency = add(queue, instance, "/dependency", delay_ms=60_000)
    add(queue, instance, "/dependent", wait_on=[dependency])
    assert claim(queue, "w", LEASE) is None
    # next_due is the earliest delayed task without pending dependencies.
    due = queue.next_due()
    assert due is not None
    assert due - now() > timedelta(seconds=50)


def test_next_due(queue: TaskQueue, instance: InstanceRecord) -> None:
    assert queue.next_due() is None
    task = add(queue, instance, delay_ms=5000)
    add(queue, instance, delay_ms=9000)
    assert queue.next_due() == task.run_after


def test_claim_several_at_once(queue: TaskQueue, instance: InstanceRecord) -> None:
    made = [add(queue, instance, arguments={"i": i}) for i in range(5)]
    first = queue.claim("w", LEASE, limit=3)
    assert [t.id for t in first] == [t.id for t in made[:3]]
    assert {t.state for t in first} == {"running"}
    rest = queue.claim("w", LEASE, limit=10)
    assert [t.id for t in rest] == [t.id for t in made[3:]]
    assert queue.claim("w", LEASE, limit=10) == []


def test_an_expired_lease_makes_the_task_claimable_again(
    queue: TaskQueue, instance: InstanceRecord
) -> None:
    task = add(queue, instance)
    first = claim(queue, "dead", SHORT)
    assert first is not None
    assert queue.requeue_expired() == 0  # the lease still holds
    expire()
    # Every worker's heartbeat requeues expired tasks: a lost run, not an attempt.
    assert queue.requeue_expired() == 1
    requeued = queue.get(task.id)
    assert requeued.state == "waiting"
    assert requeued.lost_runs == 1
    assert requeued.attempts == 0
    assert requeued.worker is None
    assert requeued.lease_until is None
    second = claim(queue, "alive", LEASE)
    assert second is not None
    assert second.id == task.id
    assert second.worker == "alive"
    assert second.lost_runs == 1
    assert second.attempts == 1
    assert second.state == "running"
    # The first worker no longer holds it: its outcome is dropped.
    assert not queue.succeed(first, "late", "text/plain")
    assert not queue.fail(first, "internal_error", "late", None)
    assert queue.get(task.id).state == "running"
    assert queue.succeed(second, "on time", "text/plain")
    done = queue.get(task.id)
    assert (done.state, done.output) == ("succeeded", "on time")


def test_a_stale_run_cannot_record_an_outcome_even_for_the_same_worker(
    queue: TaskQueue, instance: InstanceRecord
) -> None:
    # Regression: outcomes were once fenced by the worker NAME only, which every thread
    # of a TaskWorker shares: a run requeued after its lease passed and claimed again by
    # another thread of the same worker let the stale first run record its outcome.
    task = add(queue, instance)
    stale = claim(queue, "w", SHORT)
    assert stale is not None
    expire()
    assert queue.requeue_expired() == 1
    current = claim(queue, "w", LEASE)
    assert current is not None
    assert current.id == task.id
    assert current.lost_runs == 1
    assert not queue.succeed(stale, "from the lost run", "text/plain")
    assert queue.get(task.id).state == "running"
    assert queue.succeed(current, "from the current run", "text/plain")
    assert queue.get(task.id).output == "from the current run"


def test_renew_extends_the_lease_of_its_own_running_tasks(
    queue: TaskQueue, instance: InstanceRecord
) -> None:
    task = add(queue, instance)
    claimed = claim(queue, "w", SHORT)
    assert claimed is not None
    assert claimed.lease_until is not None
    queue.renew("someone-else", [task.id], LEASE)  # not theirs: no effect
    assert queue.get(task.id).lease_until == claimed.lease_until
    queue.renew("w", [task.id], LEASE)
    renewed = queue.get(task.id).lease_until
    assert renewed is not None
    assert renewed - now() > timedelta(seconds=LEASE - 5)
    expire()
    assert queue.requeue_expired() == 0  # still held
    assert claim(queue, "other") is None
    assert queue.get(task.id).worker == "w"
    queue.renew("w", [], LEASE)  # nothing to renew: fine


def test_release_dead_requeues_the_tasks_of_dead_workers(
    queue: TaskQueue, instance: InstanceRecord
) -> None:
    a, b = add(queue, instance), add(queue, instance)
    assert claim(queue, "dead") is not None
    assert claim(queue, "alive") is not None
    assert sorted(queue.running_workers()) == ["alive", "dead"]
    assert queue.release_dead([]) == 0
    assert queue.release_dead(["dead", "unknown"]) == 1
    assert queue.running_workers() == ["alive"]
    again = claim(queue, "new")
    assert again is not None
    assert again.id == a.id
    assert again.lost_runs == 1
    assert again.attempts == 1
    assert queue.get(b.id).worker == "alive"


def test_a_task_lost_limit_times_fails_with_worker_lost(
    queue: TaskQueue, instance: InstanceRecord
) -> None:
    task = add(queue, instance, max_attempts=5)
    dependent = add(queue, instance, wait_on=[task])
    for lost in range(LOST_RUN_LIMIT):
        claimed = claim(queue, f"doomed-{lost}", SHORT)
        assert claimed is not None
        assert claimed.id == task.id
        assert claimed.lost_runs == lost
        expire()
        assert queue.requeue_expired() == 1
    assert claim(queue, "next") is None
    failed = queue.get(task.id)
    assert failed.state == "failed"
    assert failed.error_code == "worker_lost"
    assert str(LOST_RUN_LIMIT) in (failed.error_message or "")
    assert failed.worker is None
    gone = queue.get(dependent.id)
    assert gone.state == "failed"
    assert gone.error_code == "dependency_failed"
    assert task.id in (gone.error_message or "")


# --- outcomes ------------------------------------------------------------------------------


def test_succeed_records_the_output_and_releases_dependents(
    queue: TaskQueue, instance: InstanceRecord
) -> None:
    a, b = add(queue, instance), add(queue, instance)
    both = add(queue, instance, wait_on=[a, b])
    only_a = add(queue, instance, wait_on=[a])
    assert (both.pending, only_a.pending) == (2, 1)

    claimed_a = claim(queue, "w", LEASE)
    assert claimed_a is not None
    assert claimed_a.id == a.id
    assert queue.succeed(claimed_a, {"x": [1, "é"]}, "application/json")
    done = queue.get(a.id)
    assert done.state == "succeeded"
    assert done.output == {"x": [1, "é"]}
    assert done.mime_type == "application/json"
    assert done.finished_at is not None
    assert done.lease_until is None
    assert queue.get(both.id).pending == 1
    assert queue.get(only_a.id).pending == 0

    # b is older than only_a: claimed first; both then becomes due.
    claimed_b = claim(queue, "w", LEASE)
    assert claimed_b is not None
    assert claimed_b.id == b.id
    assert queue.succeed(claimed_b, None, "application/json")
    assert queue.get(both.id).pending == 0
    assert [t.id for t in (claim(queue, "w", LEASE), claim(queue, "w", LEASE)) if t] == [
        both.id,
        only_a.id,
    ]


def test_succeed_many_records_a_batch_in_one_commit(
    queue: TaskQueue, instance: InstanceRecord
) -> None:
    a, b, c = add(queue, instance), add(queue, instance), add(queue, instance)
    join = add(queue, instance, wait_on=[a, b])
    batch = queue.claim("w", LEASE, limit=3)
    assert [t.id for t in batch] == [a.id, b.id, c.id]
    claimed_a, claimed_b, claimed_c = batch
    # c's lease passes and another run takes it: the batch's run of c is stale.
    queue.renew("w", [c.id], -1.0)
    assert queue.requeue_expired() == 1
    again = claim(queue, "w2", LEASE)
    assert again is not None
    assert again.id == c.id

    assert queue.succeed_many([]) == []
    held = queue.succeed_many(
        [
            (claimed_a, {"n": 1}, "application/json"),
            (claimed_b, "two", "text/plain"),
            (claimed_c, "stale", "text/plain"),
        ]
    )
    assert held == [True, True, False]
    done_a, done_b = queue.get(a.id), queue.get(b.id)
    assert (done_a.state, done_a.output) == ("succeeded", {"n": 1})
    assert (done_b.state, done_b.output, done_b.mime_type) == ("succeeded", "two", "text/plain")
    assert done_a.finished_at == done_b.finished_at  # one commit, one time
    assert queue.get(c.id).state == "running"  # the current run's, untouched
    # join waited on a and b, both in the batch: released by it.
    assert queue.get(join.id).pending == 0
    next_claim = claim(queue, "w", LEASE)
    assert next_claim is not None
    assert next_claim.id == join.id


def test_fail_with_retry_in_requeues_later(queue: TaskQueue, instance: InstanceRecord) -> None:
    task = add(queue, instance, max_attempts=2)
    claimed = claim(queue, "w", LEASE)
    assert claimed is not None
    assert queue.fail(claimed, "internal_error", "first try", retry_in=0.2)
    waiting = queue.get(task.id)
    assert waiting.state == "waiting"
    assert waiting.error_code == "internal_error"
    assert waiting.error_message == "first try"
    assert waiting.worker is None
    assert waiting.lease_until is None
    assert waiting.attempts == 1
    assert waiting.run_after > task.run_after
    assert timedelta(seconds=0.1) < waiting.run_after - now() <= timedelta(seconds=0.2)
    assert claim(queue, "w", LEASE) is None  # not yet
    time.sleep(0.25)
    second = claim(queue, "w", LEASE)
    assert second is not None
    assert second.attempts == 2
    # The last attempt: retry_in is ignored, it fails for good.
    assert queue.fail(second, "internal_error", "second try", retry_in=0.2)
    failed = queue.get(task.id)
    assert failed.state == "failed"
    assert failed.error_message == "second try"
    assert failed.finished_at is not None
    assert claim(queue, "w", LEASE) is None


def test_fail_for_good_cascades_transitively(queue: TaskQueue, instance: InstanceRecord) -> None:
    root = add(queue, instance, max_attempts=5)
    child = add(queue, instance, wait_on=[root])
    grandchild = add(queue, instance, wait_on=[child])
    great = add(queue, instance, wait_on=[grandchild])
    unrelated = add(queue, instance, delay_ms=60_000)
    mixed = add(queue, instance, wait_on=[unrelated, child])

    claimed = claim(queue, "w", LEASE)
    assert claimed is not None
    assert claimed.id == root.id
    # retry_in=None: final, whatever attempts remain.
    assert queue.fail(claimed, "bad_call", "no", retry_in=None)

    assert queue.get(root.id).state == "failed"
    for task, parent in ((child, root), (grandchild, child), (great, grandchild), (mixed, child)):
        failed = queue.get(task.id)
        assert failed.state == "failed", task
        assert failed.error_code == "dependency_failed"
        assert failed.error_message is not None
        assert parent.id in failed.error_message
        assert "failed" in failed.error_message
        assert failed.finished_at is not None
        assert failed.attempts == 0
    assert queue.get(unrelated.id).state == "waiting"
    # A task created on a failed one fails at once.
    late = add(queue, instance, wait_on=[unrelated, grandchild])
    assert late.state == "failed"
    assert late.error_code == "dependency_failed"
    assert grandchild.id in (late.error_message or "")
    assert claim(queue, "w", LEASE) is None


def test_cancel_only_a_waiting_task(
    queue: TaskQueue, instance: InstanceRecord, other: InstanceRecord
) -> None:
    running = add(queue, instance)
    waiting = add(queue, instance, delay_ms=60_000)
    dependent = add(queue, instance, wait_on=[waiting])
    grand = add(queue, instance, wait_on=[dependent])
    claimed = claim(queue, "w", LEASE)
    assert claimed is not None
    assert claimed.id == running.id

    with pytest.raises(TaskNotFoundError):
        queue.cancel(waiting.id, other.id)
    with pytest.raises(TaskNotFoundError):
        queue.cancel("0" * 32, instance.id)

    cancelled = queue.cancel(waiting.id, instance.id)
    assert cancelled.state == "cancelled"
    assert cancelled.error_code == "cancelled"
    assert cancelled.finished_at is not None
    first = queue.get(dependent.id)
    assert (first.state, first.error_code) == ("failed", "dependency_failed")
    assert waiting.id in (first.error_message or "")
    assert "cancelled" in (first.error_message or "")
    second = queue.get(grand.id)
    assert second.state == "failed"
    assert dependent.id in (second.error_message or "")

    for task_id, state in ((running.id, "running"), (waiting.id, "cancelled")):
        with pytest.raises(TaskStateError) as raised:
            queue.cancel(task_id, instance.id)
        assert raised.value.status == 409
        assert raised.value.code == "task_state_conflict"
        assert raised.value.details == {"state": state}
    assert queue.succeed(claimed, 1, "application/json")
    with pytest.raises(TaskStateError):
        queue.cancel(running.id, instance.id)


def test_deleting_the_instance_deletes_its_tasks(
    any_store: Store, queue: TaskQueue, instance: InstanceRecord, other: InstanceRecord
) -> None:
    first = add(queue, instance)
    add(queue, instance, wait_on=[first])
    kept = add(queue, other)
    assert any_store.delete_instance("alice", "ws", "one")
    with pytest.raises(TaskNotFoundError):
        queue.get(first.id)
    assert queue.counts()["waiting"] == 1
    claimed = claim(queue, "w", LEASE)
    assert claimed is not None
    assert claimed.id == kept.id


# --- concurrency ---------------------------------------------------------------------------


def test_concurrent_claims_take_every_task_exactly_once(
    queue: TaskQueue, instance: InstanceRecord
) -> None:
    threads, total = 8, 200
    created = {add(queue, instance, arguments={"i": i}).id for i in range(total)}
    claimed: list[list[str]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(n: int) -> None:
        try:
            start.wait()
            while (task := claim(queue, f"w{n}", LEASE)) is not None:
                claimed[n].append(task.id)
                assert queue.succeed(task, n, "application/json")
        except BaseException as exc:  # reported below
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(60)
    assert not errors
    every = Counter(task_id for ids in claimed for task_id in ids)
    assert set(every) == created
    assert set(every.values()) == {1}
    assert queue.counts()["succeeded"] == total
    # Each task's output names the one thread that ran it.
    for n, ids in enumerate(claimed):
        for task_id in ids[:3]:
            assert queue.get(task_id).output == n
