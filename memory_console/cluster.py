"""What the task queue says about itself: the broker, and the qclusters that report to it.

Every running qcluster's sentinel saves a report of itself every half second (django-q2's `Stat`:
host, pid, workers, tasks waiting in its local queue) with a 3-second expiry, in the `cluster` cache
every process shares (settings.py). A cluster that stopped or was killed disappears within 3 seconds.
The readiness check (memory_console/api.py) and import recovery (imports/services/recovery.py) read
these reports through this module only.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClusterReport:
    """One living qcluster: `name` is django-q2's cluster id (a uuid), `label` the words its log
    calls it by ("tennessee-crazy-paris-queen"), `waiting` the tasks it has taken from the broker that
    no worker runs yet (its local queue), `reported_at` its report's time."""

    name: str
    label: str
    host: str
    pid: int
    status: str
    workers: int
    waiting: int
    reported_at: datetime


def clusters_alive() -> list[ClusterReport]:
    """The clusters that reported in the last 3 seconds, oldest start first.

    Raises whatever the cache raises when it cannot be read (the caller decides: readiness reports
    it, recovery then assumes nothing is known)."""
    from django_q.humanhash import humanize
    from django_q.status import Stat

    reports = [
        ClusterReport(
            name=str(stat.cluster_id),
            label=humanize(stat.cluster_id.hex),
            host=stat.host,
            pid=stat.pid,
            status=str(stat.status),
            workers=len(stat.workers),
            waiting=stat.task_q_size,
            reported_at=stat.timestamp,
        )
        for stat in Stat.get_all()
    ]
    return sorted(reports, key=lambda r: (r.reported_at, r.name))


def broker_waiting() -> int:
    """Tasks in the broker that no cluster has taken yet (Redis: the list's length; ORM: the rows not
    locked by a cluster). Raises the broker's error when it cannot be reached."""
    from django_q.brokers import get_broker

    return int(get_broker().queue_size())


@dataclass(frozen=True)
class Check:
    """One readiness check: `ok`, the time it took in milliseconds and, when not ok, why."""

    ok: bool
    ms: float
    detail: str = ""


def broker_check() -> Check:
    """Can the broker be reached: Redis answers PING; the ORM broker's table can be counted."""
    from django_q.brokers import get_broker

    started = time.perf_counter()
    try:
        broker = get_broker()
        if hasattr(broker, "connection") and hasattr(broker.connection, "ping"):
            broker.connection.ping()
        else:
            broker.queue_size()
    except Exception as exc:  # noqa: BLE001 - any failure of the broker is "not ready"
        logger.warning("readiness: the broker cannot be reached: %s", exc)
        return Check(False, _ms(started), f"The task broker cannot be reached ({type(exc).__name__}).")
    return Check(True, _ms(started))


def workers_check() -> tuple[Check, list[ClusterReport]]:
    """At least one qcluster reported in the last 3 seconds."""
    started = time.perf_counter()
    try:
        clusters = clusters_alive()
    except Exception as exc:  # noqa: BLE001
        logger.warning("readiness: the clusters' reports cannot be read: %s", exc)
        return Check(False, _ms(started), f"The workers' reports cannot be read ({type(exc).__name__})."), []
    if not clusters:
        return Check(False, _ms(started), "No worker (qcluster) has reported in the last 3 seconds."), []
    return Check(True, _ms(started)), clusters


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
