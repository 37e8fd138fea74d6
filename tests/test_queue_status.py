"""`manage.py queue_status`: what an operator reads about the queue, and a worker unit's check."""

import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db(databases="__all__")  # the ORM broker is in the queue database on SQLite
def test_without_a_cluster_it_says_so_and_exits_1():
    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("queue_status", stdout=out)
    assert exited.value.code == 1
    assert "broker: ok, 0 task(s) waiting" in out.getvalue() and "No worker (qcluster)" in out.getvalue()


@pytest.mark.django_db(databases="__all__")
def test_this_host_names_the_host_it_looked_for():
    import socket

    out = io.StringIO()
    with pytest.raises(SystemExit):
        call_command("queue_status", "--this-host", "--json", stdout=out)
    assert f"on this host ({socket.gethostname()})" in out.getvalue()
