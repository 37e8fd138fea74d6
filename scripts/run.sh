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

$PY manage.py qcluster &
QCLUSTER_PID=$!
stop() {
  kill -TERM "$QCLUSTER_PID" 2>/dev/null || true
  wait "$QCLUSTER_PID" 2>/dev/null || true
}
trap stop EXIT INT TERM

echo
echo "Memory Console is starting at http://$HOST:$PORT/  (worker pid $QCLUSTER_PID; Ctrl-C stops both)"
echo
$PY manage.py runserver --noreload "$HOST:$PORT"
