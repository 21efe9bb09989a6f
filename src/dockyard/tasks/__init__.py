"""Background tasks (``invoke_later``): the embedded scheduler and worker over the store.

`InstanceTasks` is what an instance schedules through; `TaskWorker` runs due tasks in
threads of any process that has a `Runtime` (``dockyard serve``, ``dockyard worker``, the
embedded client). Tasks, delays, dependencies and leases are all in the database (see
`dockyard.store.tasks`), so a worker may die at any point and another picks up.
"""

from __future__ import annotations

from dockyard.tasks.embedded import InstanceTasks, task_from_record
from dockyard.tasks.worker import TaskWorker, worker_name

__all__ = ["InstanceTasks", "TaskWorker", "task_from_record", "worker_name"]
