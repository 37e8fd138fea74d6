"""Write paths of CSV imports, by concern:

- `upload`: upload (the file rules), mapping and queue, discard, cancel; the worker's task;
- `run`: the worker's run of a queued import (one transaction on PostgreSQL, journalled steps on
  SQLite) and the undo of what a Cancelled or Failed import left;
- `recovery`: requeue imports whose worker died or whose task was lost, drop abandoned uploads;
- `liveness`: whether an import's worker still runs it;
- `download`: the failed-rows CSV.

Import the services from here. A test that patches a module's name (`CHUNK_ROWS`, `_finish`,
`imports_recover`) patches it in the module that looks it up (`imports.services.run`, ...).
"""

from .download import import_failed_rows_csv
from .recovery import imports_recover, imports_recover_before_run
from .run import import_run, import_undo_leftovers
from .upload import (
    import_cancel,
    import_discard,
    import_queue,
    import_start,
    import_store_files_delete,
    import_upload,
)

__all__ = [
    "import_cancel",
    "import_discard",
    "import_failed_rows_csv",
    "import_queue",
    "import_run",
    "import_start",
    "import_undo_leftovers",
    "import_store_files_delete",
    "import_upload",
    "imports_recover",
    "imports_recover_before_run",
]
