#!/usr/bin/env bash
# Start the console (runserver) and the django-q2 worker (qcluster) together on SQLite.
# Ctrl-C (or a TERM to this script or its process group) stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}

$PY manage.py migrate --noinput
# On SQLite django-q2's tables live in a database file of their own (the `queue` alias, beside the
# data file: memory_console/settings.py), so the queue never waits for an import's write lock.
if $PY -c 'import sys; sys.path.insert(0, "."); from memory_console import settings as s; sys.exit(s.QUEUE_DATABASE not in s.DATABASES)'; then
  $PY manage.py migrate --noinput --database queue
fi
$PY manage.py demo_admin

# The worker in a session of its own (os.setsid: no util-linux needed), so it gets exactly one
# signal, from stop(): a Ctrl-C or a TERM to this script's group would reach it too, and django-q2
# can hang when a second signal arrives while it is stopping.
$PY -c 'import os, sys; os.setsid(); os.execv(sys.argv[1], sys.argv[1:])' "$PY" manage.py qcluster &
QCLUSTER_PID=$!
RUNSERVER_PID=
stop() {
  trap '' INT TERM  # a second Ctrl-C while stopping must not leave the worker behind
  trap - EXIT
  [ -n "$RUNSERVER_PID" ] && kill -TERM "$RUNSERVER_PID" 2>/dev/null || true
  kill -TERM "$QCLUSTER_PID" 2>/dev/null || true
  for _ in $(seq 1 150); do
    kill -0 "$QCLUSTER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$QCLUSTER_PID" 2>/dev/null || true  # not stopped within 15 s: end it and its workers
  wait 2>/dev/null || true
  exit 0
}
trap stop EXIT INT TERM

echo
echo "Memory Console is starting at http://$HOST:$PORT/  (worker pid $QCLUSTER_PID; Ctrl-C stops both)"
echo "The worker moves conversations Open -> (Inactive) -> Closed every minute; to run that pass now"
echo "(and process the memory extractions it requests), in another terminal:"
echo "  $PY manage.py conversations_tick --extract"
echo
# In the background and waited for, so a TERM to this script alone is handled at once (bash runs a
# trap only when the foreground command has ended).
$PY manage.py runserver --noreload "$HOST:$PORT" &
RUNSERVER_PID=$!
wait "$RUNSERVER_PID"
