"""`manage.py queue_status [--json] [--this-host]`: the task broker and the qclusters that report to it.

What an operator asks before stopping a worker or when imports wait: how many tasks wait in the
broker, which clusters live (host, pid, workers, tasks in their local queue). Exit status 1 when
the broker cannot be reached or no cluster reports (as the readiness check, /api/v1/health/ready).
"""

import json
import socket

from django.core.management.base import BaseCommand

from memory_console.cluster import Check, broker_check, broker_waiting, workers_check


class Command(BaseCommand):
    help = "Show the task broker's waiting tasks and the qclusters that report (exit 1 if not ready)."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="one JSON object, for scripts")
        parser.add_argument(
            "--this-host",
            action="store_true",
            help="only the clusters of this host, and exit 1 unless one reports (a worker unit's check)",
        )

    def handle(self, *args, **options):
        broker = broker_check()
        waiting = broker_waiting() if broker.ok else None
        workers, clusters = workers_check()
        if options["this_host"]:
            host = socket.gethostname()
            clusters = [c for c in clusters if c.host == host]
            if not clusters:
                workers = Check(False, workers.ms, f"No worker (qcluster) on this host ({host}) has reported.")
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "broker": {"ok": broker.ok, "waiting": waiting, "detail": broker.detail},
                        "clusters": [
                            {
                                "name": c.name,
                                "label": c.label,
                                "host": c.host,
                                "pid": c.pid,
                                "status": c.status,
                                "workers": c.workers,
                                "waiting": c.waiting,
                                "reported_at": c.reported_at.isoformat(),
                            }
                            for c in clusters
                        ],
                        "detail": workers.detail,
                    }
                )
            )
        else:
            self.stdout.write(
                f"broker: {'ok' if broker.ok else broker.detail}"
                + (f", {waiting} task(s) waiting" if waiting is not None else "")
            )
            if not clusters:
                self.stdout.write(workers.detail)
            for c in clusters:
                self.stdout.write(
                    f"cluster {c.label} ({c.name}) on {c.host} pid {c.pid}: {c.status}, {c.workers} worker(s), "
                    f"{c.waiting} task(s) taken and waiting"
                )
        if not (broker.ok and workers.ok):
            raise SystemExit(1)
