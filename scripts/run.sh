#!/usr/bin/env bash
# Start the console (runserver) and the django-q2 worker (qcluster) together on SQLite.
# Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}

$PY manage.py migrate --noinput
$PY manage.py demo_admin

# In a process group of its own, so it gets exactly one signal, from stop(): a Ctrl-C or a TERM to
# this script's group would reach it too, and django-q2 can hang when a second signal arrives while
# it is stopping.
setsid $PY manage.py qcluster &
QCLUSTER_PID=$!
stop() {
  trap - EXIT INT TERM
  kill -TERM "$QCLUSTER_PID" 2>/dev/null || true
  for _ in $(seq 1 150); do
    kill -0 "$QCLUSTER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$QCLUSTER_PID" 2>/dev/null || true  # not stopped within 15 s: end it and its workers
  wait "$QCLUSTER_PID" 2>/dev/null || true
}
trap stop EXIT INT TERM

echo
echo "Memory Console is starting at http://$HOST:$PORT/  (worker pid $QCLUSTER_PID; Ctrl-C stops both)"
echo
$PY manage.py runserver --noreload "$HOST:$PORT"
