"""django-q2 entry points for imports; the logic is in services.py."""

from .services import import_run, import_undo_leftovers, imports_recover, imports_recover_before_run


def import_run_task(import_id: int, attempt: int) -> str:
    imports_recover_before_run()
    result = import_run(import_id=import_id, attempt=attempt)
    return "stale task: a newer attempt owns this import" if result is None else result.status


def imports_recover_task() -> list[int]:
    return imports_recover()


def import_undo_task(import_id: int) -> int:
    return import_undo_leftovers(import_id=import_id)
