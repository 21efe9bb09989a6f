"""`TaskQueue`: background tasks persisted in the store, claimed by workers with leases.

Every state lives in the database, never only in a worker's memory:

- a delay is the task's ``run_after`` time;
- a dependency is a row in ``dockyard_task_deps`` and a count of the dependencies not
  yet succeeded (``pending``); a task is due when it is waiting, ``pending`` is 0 and
  ``run_after`` has passed;
- a running task carries the worker that claimed it and a lease (``lease_until``) the
  worker renews while it runs. A task whose lease has passed belongs to a worker that
  died: `requeue_expired` (every worker's heartbeat runs it) puts it back to waiting, so
  it runs again (at-least-once), counting a lost run; after `LOST_RUN_LIMIT` lost runs it
  fails with that reason instead of running forever.

A task that fails for good, or is cancelled, fails every task waiting on it, and theirs
in turn, each with a message naming the task it waited on. All of it runs in write
transactions (``BEGIN IMMEDIATE`` on SQLite; row locks elsewhere), so any number of
worker threads and processes may share one queue.

Wake-ups: whenever tasks may have become due (scheduled, released by a dependency,
retried, requeued), the queue notifies `TaskQueue.wakeup` (worker threads of this
process wait on it) and, when one is attached, hands them to its `dispatcher` after the
transaction has committed (the Redis backend sends "task X may be due" messages to
worker processes anywhere; see `dockyard.tasks.redis`). A dispatch is only a hint: a
worker claims a task with `TaskQueue.claim_task`, which does nothing unless the task is
due, so lost, early or duplicated messages are all harmless.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Final, NamedTuple, Protocol

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection, Row

from dockyard.core.errors import DockyardError
from dockyard.store.codec import canonical_json, load_json
from dockyard.store.database import Database
from dockyard.store.schema import as_utc, task_deps, tasks

__all__ = [
    "LOST_RUN_LIMIT",
    "TASK_STATES",
    "DueTask",
    "TaskDispatcher",
    "TaskNotFoundError",
    "TaskQueue",
    "TaskRecord",
    "TaskStateError",
]

#: The states a task goes through.
TASK_STATES: Final = ("waiting", "running", "succeeded", "failed", "cancelled")
_DONE: Final = ("succeeded", "failed", "cancelled")

#: Runs of one task lost to a dying worker before it fails instead of running again.
LOST_RUN_LIMIT: Final = 3

logger = logging.getLogger("dockyard.tasks")


class TaskNotFoundError(DockyardError, LookupError):
    """No task with that id (on that instance)."""

    default_code = "task_not_found"
    default_status = 404


class TaskStateError(DockyardError, ValueError):
    """The task is not in a state that allows what was asked (e.g. cancelling a running one)."""

    default_code = "task_state_conflict"
    default_status = 409


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class TaskRecord:
    """A task as stored."""

    seq: int
    id: str
    instance_id: int
    scheduled_by: str | None
    verb: str
    method: str
    arguments: dict[str, Any]
    state: str
    pending: int
    run_after: datetime
    attempts: int
    max_attempts: int
    lost_runs: int
    output: Any
    mime_type: str | None
    error_code: str | None
    error_message: str | None
    worker: str | None
    lease_until: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    wait_on: tuple[str, ...] = ()


class DueTask(NamedTuple):
    """A task that may have become due: what a dispatcher needs to send it."""

    id: str
    run_after: datetime
    attempts: int


class TaskDispatcher(Protocol):
    """Sends "these tasks may be due" to workers (e.g. `RedisDispatcher`)."""

    def dispatch(self, tasks: Sequence[DueTask]) -> None:
        """Deliver one message per task, due at its ``run_after`` (may raise: the
        caller logs it, and the tasks are found again by a sweep)."""


_COLUMNS = tuple(tasks.c)


def _record(row: Row[Any], wait_on: Sequence[str] = ()) -> TaskRecord:
    data = dict(row._mapping)
    data["arguments"] = load_json(data["arguments"])
    data["output"] = None if data["output"] is None else load_json(data["output"])
    for name in ("run_after", "created_at", "started_at", "finished_at", "lease_until"):
        if data[name] is not None:
            data[name] = as_utc(data[name])
    return TaskRecord(**data, wait_on=tuple(wait_on))


# Statements of the hot path, built once (building them per call cost more than running).
_DUE = (
    select(*_COLUMNS)
    .where(
        tasks.c.state == "waiting",
        tasks.c.pending == 0,
        tasks.c.run_after <= bindparam("b_now"),
    )
    .order_by(tasks.c.run_after, tasks.c.seq)
    .limit(bindparam("b_limit"))
)
_DUE_LOCKED = _DUE.with_for_update(skip_locked=True)
_CLAIM = (
    update(tasks)
    .where(tasks.c.seq.in_(bindparam("b_seqs", expanding=True)))
    .values(
        state="running",
        worker=bindparam("b_worker"),
        lease_until=bindparam("b_lease"),
        attempts=tasks.c.attempts + 1,
        started_at=bindparam("b_now"),
    )
)
# A run is fenced by its worker AND its (attempts, lost_runs), which every claim makes
# new: a stale run (its lease passed, the task was requeued and claimed again, maybe by
# another thread of the same worker) can no longer record an outcome.
_SUCCEED = (
    update(tasks)
    .where(
        tasks.c.seq == bindparam("b_seq"),
        tasks.c.worker == bindparam("b_worker"),
        tasks.c.attempts == bindparam("b_attempts"),
        tasks.c.lost_runs == bindparam("b_lost_runs"),
        tasks.c.state == "running",
    )
    .values(
        state="succeeded",
        output=bindparam("b_output"),
        mime_type=bindparam("b_mime"),
        finished_at=bindparam("b_now"),
        lease_until=None,
        # The errors of failed attempts before are no error of a succeeded task.
        error_code=None,
        error_message=None,
    )
)
# claim_task: the one task, only if it is due (a duplicate or early message finds nothing).
_DUE_ONE = select(*_COLUMNS).where(
    tasks.c.id == bindparam("b_id"),
    tasks.c.state == "waiting",
    tasks.c.pending == 0,
    tasks.c.run_after <= bindparam("b_now"),
)
_DUE_ONE_LOCKED = _DUE_ONE.with_for_update(skip_locked=True)
_CLAIM_ONE = (
    update(tasks)
    .where(tasks.c.seq == bindparam("b_seq"))
    .values(
        state="running",
        worker=bindparam("b_worker"),
        lease_until=bindparam("b_lease"),
        attempts=tasks.c.attempts + 1,
        started_at=bindparam("b_now"),
    )
)
# Tasks due since before a time (a sweep re-dispatches them), oldest first.
_OVERDUE = (
    select(tasks.c.id, tasks.c.run_after, tasks.c.attempts)
    .where(
        tasks.c.state == "waiting",
        tasks.c.pending == 0,
        tasks.c.run_after <= bindparam("b_before"),
    )
    .order_by(tasks.c.run_after, tasks.c.seq)
    .limit(bindparam("b_limit"))
)
_RELEASE_DEPENDENTS = (
    update(tasks)
    .where(
        tasks.c.seq.in_(
            select(task_deps.c.task_seq).where(task_deps.c.depends_on_seq == bindparam("b_seq"))
        ),
        tasks.c.state == "waiting",
    )
    .values(pending=tasks.c.pending - 1)
)
# The dependents a success released completely (run after _RELEASE_DEPENDENTS).
_RELEASED = (
    select(tasks.c.id, tasks.c.run_after, tasks.c.attempts)
    .select_from(task_deps.join(tasks, task_deps.c.task_seq == tasks.c.seq))
    .where(
        task_deps.c.depends_on_seq == bindparam("b_seq"),
        tasks.c.state == "waiting",
        tasks.c.pending == 0,
    )
)


class TaskQueue:
    """The tasks of every instance in one database.

    :param db: the store's database.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        #: Set whenever a task may have become due in this process (workers wait on it).
        self.wakeup = threading.Condition()
        #: Told (after commit) about tasks that may have become due, to wake workers of
        #: other processes; None: only this process's `wakeup` is notified. Set by
        #: whoever builds the store (`dockyard.tasks.backend.attach_backend`).
        self.dispatcher: TaskDispatcher | None = None

    def _notify(self, due: Sequence[DueTask] = ()) -> None:
        with self.wakeup:
            self.wakeup.notify_all()
        dispatcher = self.dispatcher
        if due and dispatcher is not None:
            try:
                dispatcher.dispatch(due)
            except Exception as exc:
                # The tasks are committed: failing the caller now would report a task
                # as not scheduled that is. A sweep finds due tasks without a message.
                # (One line: with its transport down, every write would log this.)
                logger.warning(
                    "dispatching %d task(s) failed (%s: %s); a sweep will send them",
                    len(due),
                    type(exc).__name__,
                    exc,
                )

    # --- scheduling ----------------------------------------------------------------

    def create(
        self,
        *,
        instance_id: int,
        user: str | None,
        verb: str,
        method: str,
        arguments: Mapping[str, Any],
        wait_on: Sequence[str] = (),
        delay_ms: int = 0,
        max_attempts: int = 1,
    ) -> TaskRecord:
        """Schedule a task on instance ``instance_id``.

        :param wait_on: ids of tasks of the same instance that must succeed first.
        :raises TaskNotFoundError: an id in ``wait_on`` is not a task of this instance.
        """
        now = _now()
        arguments_json = canonical_json(dict(arguments), "task arguments")
        task_id = uuid.uuid4().hex
        with self._db.write() as conn:
            deps = self._dependencies(conn, instance_id, wait_on)
            failed = next((d for d in deps if d.state in ("failed", "cancelled")), None)
            values: dict[str, Any] = {
                "id": task_id,
                "instance_id": instance_id,
                "scheduled_by": user,
                "verb": verb,
                "method": method,
                "arguments": arguments_json,
                "state": "waiting",
                "pending": sum(d.state != "succeeded" for d in deps),
                "run_after": now + timedelta(milliseconds=delay_ms),
                "attempts": 0,
                "max_attempts": max_attempts,
                "lost_runs": 0,
                "created_at": now,
            }
            if failed is not None:
                values.update(
                    state="failed",
                    finished_at=now,
                    error_code="dependency_failed",
                    error_message=_dependency_message(failed.id, failed.state),
                )
            key = conn.execute(insert(tasks).values(**values)).inserted_primary_key
            assert key is not None
            seq = key[0]
            if deps:
                conn.execute(
                    insert(task_deps),
                    [{"task_seq": seq, "depends_on_seq": d.seq} for d in deps],
                )
            row = conn.execute(select(*_COLUMNS).where(tasks.c.seq == seq)).one()
        record = _record(row, [d.id for d in deps])
        if record.state == "waiting" and record.pending == 0:
            self._notify([DueTask(record.id, record.run_after, record.attempts)])
        else:
            self._notify()
        return record

    def _dependencies(
        self, conn: Connection, instance_id: int, wait_on: Sequence[str]
    ) -> list[TaskRecord]:
        wanted = list(dict.fromkeys(wait_on))
        if not wanted:
            return []
        rows = conn.execute(
            select(*_COLUMNS).where(tasks.c.id.in_(wanted), tasks.c.instance_id == instance_id)
        ).all()
        found = {row.id: _record(row) for row in rows}
        missing = [t for t in wanted if t not in found]
        if missing:
            raise TaskNotFoundError(
                f"wait_on_tasks names unknown task(s) {', '.join(missing)} of this instance",
                suggestion="pass ids of tasks this instance scheduled (Task.id)",
                details={"unknown": missing},
            )
        return [found[t] for t in wanted]

    # --- reading -------------------------------------------------------------------

    def get(self, task_id: str, instance_id: int | None = None) -> TaskRecord:
        """The task ``task_id`` (of instance ``instance_id`` when given).

        :raises TaskNotFoundError: no such task (there).
        """
        query = select(*_COLUMNS).where(tasks.c.id == task_id)
        if instance_id is not None:
            query = query.where(tasks.c.instance_id == instance_id)
        with self._db.engine.connect() as conn:
            row = conn.execute(query).first()
            if row is None:
                raise TaskNotFoundError(
                    f"no task {task_id}" + (" on this instance" if instance_id else ""),
                    suggestion="use the id of a task this instance scheduled",
                )
            wait_on = conn.execute(
                select(tasks.c.id)
                .select_from(task_deps.join(tasks, task_deps.c.depends_on_seq == tasks.c.seq))
                .where(task_deps.c.task_seq == row.seq)
                .order_by(tasks.c.seq)
            ).scalars()
            return _record(row, list(wait_on))

    def counts(self) -> dict[str, int]:
        """How many tasks are in each state."""
        with self._db.engine.connect() as conn:
            rows = conn.execute(select(tasks.c.state, func.count()).group_by(tasks.c.state))
            found = {state: int(n) for state, n in rows}
        return {state: found.get(state, 0) for state in TASK_STATES}

    # --- working -------------------------------------------------------------------

    def claim(self, worker: str, lease_seconds: float, limit: int = 1) -> list[TaskRecord]:
        """Take up to ``limit`` due tasks for ``worker``, oldest due first (an index range
        scan: waiting, no pending dependencies, ``run_after`` passed)."""
        due = _DUE if self._db.dialect == "sqlite" else _DUE_LOCKED
        with self._db.write() as conn:
            # The clock is read holding the write lock: times recorded are when it
            # happened, not when it began waiting for the lock (a dependent's started_at
            # could otherwise precede the finished_at of what it waited on).
            rows = conn.execute(due, {"b_now": _now(), "b_limit": limit}).all()
            if not rows:
                return []
            # ...and read again once the due tasks are found: where no write lock orders
            # transactions (PostgreSQL), the commit that released a task may have come
            # after the first reading (the query sees every commit before it ran).
            now = _now()
            lease = now + timedelta(seconds=lease_seconds)
            conn.execute(
                _CLAIM,
                {
                    "b_seqs": [row.seq for row in rows],
                    "b_worker": worker,
                    "b_lease": lease,
                    "b_now": now,
                },
            )
        return [
            replace(
                _record(row),
                state="running",
                worker=worker,
                lease_until=lease,
                attempts=row.attempts + 1,
                started_at=now,
            )
            for row in rows
        ]

    def claim_task(self, task_id: str, worker: str, lease_seconds: float) -> TaskRecord | None:
        """Take the task ``task_id`` for ``worker`` if it is due (waiting, no pending
        dependencies, ``run_after`` passed); None otherwise: a message for a task that
        already ran, runs, was cancelled or is not due yet claims nothing."""
        due = _DUE_ONE if self._db.dialect == "sqlite" else _DUE_ONE_LOCKED
        with self._db.write() as conn:
            row = conn.execute(due, {"b_id": task_id, "b_now": _now()}).first()
            if row is None:
                return None
            now = _now()  # holding the write lock, after the query (see claim)
            lease = now + timedelta(seconds=lease_seconds)
            conn.execute(
                _CLAIM_ONE,
                {"b_seq": row.seq, "b_worker": worker, "b_lease": lease, "b_now": now},
            )
        return replace(
            _record(row),
            state="running",
            worker=worker,
            lease_until=lease,
            attempts=row.attempts + 1,
            started_at=now,
        )

    def overdue(self, before: datetime, limit: int = 1000) -> list[DueTask]:
        """Up to ``limit`` tasks due since ``before`` or earlier and still waiting, oldest
        first: if their messages were lost, nothing else would run them."""
        with self._db.engine.connect() as conn:
            rows = conn.execute(_OVERDUE, {"b_before": before, "b_limit": limit}).all()
        return [
            DueTask(task_id, as_utc(run_after), attempts) for task_id, run_after, attempts in rows
        ]

    def requeue_expired(self) -> int:
        """Put running tasks whose lease has passed (their worker died) back to waiting,
        counting a lost run and not the attempt; after `LOST_RUN_LIMIT` lost runs a task
        fails instead. How many were requeued or failed."""
        requeued: list[DueTask] = []
        with self._db.write() as conn:
            now = _now()  # holding the write lock (see claim)
            rows = conn.execute(
                select(
                    tasks.c.seq,
                    tasks.c.lost_runs,
                    tasks.c.id,
                    tasks.c.run_after,
                    tasks.c.attempts,
                ).where(tasks.c.state == "running", tasks.c.lease_until < now)
            ).all()
            for seq, lost_runs, task_id, run_after, attempts in rows:
                if lost_runs + 1 >= LOST_RUN_LIMIT:
                    self._fail(
                        conn,
                        seq,
                        "worker_lost",
                        f"the worker running it stopped {lost_runs + 1} times "
                        "(killed, or crashed); not run again",
                        now,
                    )
                    continue
                conn.execute(
                    update(tasks)
                    .where(tasks.c.seq == seq)
                    .values(
                        state="waiting",
                        worker=None,
                        lease_until=None,
                        lost_runs=tasks.c.lost_runs + 1,
                        attempts=tasks.c.attempts - 1,  # the lost run was not an attempt
                    )
                )
                # Due at once: it ran, so its run_after has passed and nothing is pending.
                requeued.append(DueTask(task_id, as_utc(run_after), attempts - 1))
        if rows:
            self._notify(requeued)
        return len(rows)

    def renew(self, worker: str, task_ids: Iterable[str], lease_seconds: float) -> None:
        """Extend the leases of ``worker``'s running tasks (its heartbeat)."""
        ids = list(task_ids)
        if not ids:
            return
        with self._db.write() as conn:
            conn.execute(
                update(tasks)
                .where(tasks.c.id.in_(ids), tasks.c.worker == worker, tasks.c.state == "running")
                .values(lease_until=_now() + timedelta(seconds=lease_seconds))
            )

    def release_dead(self, workers: Iterable[str]) -> int:
        """Expire the leases of tasks held by ``workers`` (known dead: their process is
        gone), so they are claimed again now rather than when the lease runs out."""
        names = list(workers)
        if not names:
            return 0
        with self._db.write() as conn:
            conn.execute(
                update(tasks)
                .where(tasks.c.worker.in_(names), tasks.c.state == "running")
                .values(lease_until=_now() - timedelta(seconds=1))
            )
        return self.requeue_expired()

    def running_workers(self) -> list[str]:
        """The workers holding running tasks."""
        with self._db.engine.connect() as conn:
            rows = conn.execute(
                select(tasks.c.worker).where(tasks.c.state == "running").distinct()
            ).scalars()
            return [w for w in rows if w]

    def next_due(self) -> datetime | None:
        """When the next waiting task without pending dependencies becomes due."""
        with self._db.engine.connect() as conn:
            value = conn.execute(
                select(func.min(tasks.c.run_after)).where(
                    tasks.c.state == "waiting", tasks.c.pending == 0
                )
            ).scalar()
        return None if value is None else as_utc(value)

    def succeed(self, task: TaskRecord, output: Any, mime_type: str) -> bool:
        """Record ``task``'s success; its dependents' counts go down. False if the worker
        no longer held it (its lease passed and another worker took it)."""
        return self.succeed_many([(task, output, mime_type)])[0]

    def succeed_many(self, results: Sequence[tuple[TaskRecord, Any, str]]) -> list[bool]:
        """Record the successes ``(task, output, mime_type)`` in one transaction (each
        as `succeed` would: a worker that ran a batch of short tasks commits once); for
        each, whether the worker still held it. All finish at the commit's time."""
        params: list[dict[str, Any]] = [
            {
                "b_seq": task.seq,
                "b_worker": task.worker,
                "b_attempts": task.attempts,
                "b_lost_runs": task.lost_runs,
                "b_output": canonical_json(output, f"output of task {task.id}"),
                "b_mime": mime_type,
            }
            for task, output, mime_type in results
        ]
        if not params:
            return []
        done: list[bool] = []
        released = 0
        due: list[DueTask] = []
        with self._db.write() as conn:
            # The clock is read holding the write lock: waiting for it is not running.
            now = _now()
            for values in params:
                values["b_now"] = now
                ok = bool(conn.execute(_SUCCEED, values).rowcount)
                done.append(ok)
                if not ok:
                    continue
                count = conn.execute(_RELEASE_DEPENDENTS, {"b_seq": values["b_seq"]}).rowcount
                released += count
                if count and self.dispatcher is not None:
                    due.extend(
                        DueTask(task_id, as_utc(run_after), attempts)
                        for task_id, run_after, attempts in conn.execute(
                            _RELEASED, {"b_seq": values["b_seq"]}
                        )
                    )
        if released:
            self._notify(due)
        return done

    def fail(self, task: TaskRecord, code: str, message: str, retry_in: float | None) -> bool:
        """Record a failed attempt: waiting again after ``retry_in`` seconds if given and
        attempts remain, else failed for good (with its dependents). False if the worker
        no longer held it."""
        retried: list[DueTask] = []
        with self._db.write() as conn:
            now = _now()  # holding the write lock (see succeed)
            row = conn.execute(
                select(tasks.c.seq, tasks.c.attempts, tasks.c.max_attempts).where(
                    tasks.c.seq == task.seq,
                    tasks.c.worker == task.worker,
                    tasks.c.attempts == task.attempts,  # this run, not a stale one
                    tasks.c.lost_runs == task.lost_runs,
                    tasks.c.state == "running",
                )
            ).first()
            if row is None:
                return False
            if retry_in is not None and row.attempts < row.max_attempts:
                run_after = now + timedelta(seconds=retry_in)
                conn.execute(
                    update(tasks)
                    .where(tasks.c.seq == task.seq)
                    .values(
                        state="waiting",
                        run_after=run_after,
                        error_code=code,
                        error_message=message,
                        worker=None,
                        lease_until=None,
                    )
                )
                retried.append(DueTask(task.id, run_after, row.attempts))
            else:
                self._fail(conn, task.seq, code, message, now)
        self._notify(retried)
        return True

    def cancel(self, task_id: str, instance_id: int) -> TaskRecord:
        """Cancel a waiting task (its dependents fail, naming it).

        :raises TaskNotFoundError: no such task on this instance.
        :raises TaskStateError: it is running or finished.
        """
        with self._db.write() as conn:
            now = _now()  # holding the write lock (see claim)
            row = conn.execute(
                select(tasks.c.seq, tasks.c.state).where(
                    tasks.c.id == task_id, tasks.c.instance_id == instance_id
                )
            ).first()
            if row is None:
                raise TaskNotFoundError(f"no task {task_id} on this instance")
            if row.state != "waiting":
                raise TaskStateError(
                    f"task {task_id} is {row.state}: only a waiting task can be cancelled",
                    suggestion="a running task runs to its end; read its outcome with get_task",
                    details={"state": row.state},
                )
            conn.execute(
                update(tasks)
                .where(tasks.c.seq == row.seq)
                .values(
                    state="cancelled",
                    finished_at=now,
                    error_code="cancelled",
                    error_message="cancelled before it ran",
                )
            )
            self._fail_dependents(conn, row.seq, task_id, "cancelled", now)
        return self.get(task_id, instance_id)

    def _fail(self, conn: Connection, seq: int, code: str, message: str, now: datetime) -> None:
        conn.execute(
            update(tasks)
            .where(tasks.c.seq == seq)
            .values(
                state="failed",
                error_code=code,
                error_message=message,
                finished_at=now,
                worker=None,
                lease_until=None,
            )
        )
        task_id = conn.execute(select(tasks.c.id).where(tasks.c.seq == seq)).scalar_one()
        self._fail_dependents(conn, seq, task_id, "failed", now)

    def _fail_dependents(
        self, conn: Connection, seq: int, task_id: str, how: str, now: datetime
    ) -> None:
        # Breadth first through the waiting dependents, each failed naming the task it
        # waited on (which failed or was cancelled itself).
        frontier = [(seq, task_id, how)]
        while frontier:
            parent_seq, parent_id, parent_how = frontier.pop(0)
            children = conn.execute(
                select(tasks.c.seq, tasks.c.id)
                .select_from(task_deps.join(tasks, task_deps.c.task_seq == tasks.c.seq))
                .where(task_deps.c.depends_on_seq == parent_seq, tasks.c.state == "waiting")
            ).all()
            for child_seq, child_id in children:
                conn.execute(
                    update(tasks)
                    .where(tasks.c.seq == child_seq)
                    .values(
                        state="failed",
                        error_code="dependency_failed",
                        error_message=_dependency_message(parent_id, parent_how),
                        finished_at=now,
                    )
                )
                frontier.append((child_seq, child_id, "failed"))


def _dependency_message(task_id: str, how: str) -> str:
    what = "was cancelled" if how == "cancelled" else "failed"
    return f"task {task_id}, which it waited on, {what}; it was not run"
