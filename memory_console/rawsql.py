"""Hand-written SQL for the few hot paths where building a query costs more than running it.

Django compiles every queryset anew: on this project's webhook path that is about 1 ms of CPU a
statement, against 0.1-0.3 ms to run the same SQL through the same cursor (measured, see
docs/PERFORMANCE.md, "Webhooks"). The Twilio webhook runs 9 to 13 statements a message, so the
ORM's compiler was most of its cost. These helpers write the few statements it needs by hand
while keeping the ORM's results: rows come back as model instances with the ORM's own converters
applied (`Model.from_db`, `Field.get_db_converters`, the backend's converters: JSON, datetimes on
SQLite, ...), and writes take values through `Field.pre_save` and `Field.get_db_prep_save`, as
`Model.save` does. They send no signals (the project connects none to these models).

Use them only where a benchmark shows the ORM's cost (`bench/webhooks.py`); everywhere else the ORM
is clearer. SQL here must run on SQLite and PostgreSQL alike (`for_update()` is empty on SQLite,
which locks the whole database for a write transaction instead).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model


def quote(name: str, using: str = DEFAULT_DB_ALIAS) -> str:
    """A table or column name quoted for the database `using`."""
    return connections[using].ops.quote_name(name)


_COLUMNS: dict[tuple, str] = {}


def columns(model: type[Model], alias: str, using: str = DEFAULT_DB_ALIAS) -> str:
    """The select list of every concrete column of `model` under table alias `alias`, in the
    order `fetch` reads them back (`"alias"."id", "alias"."store_id", ...`)."""
    connection = connections[using]
    key = (model, alias, connection.vendor)
    text = _COLUMNS.get(key)
    if text is None:
        q = connection.ops.quote_name
        text = _COLUMNS[key] = ", ".join(f"{q(alias)}.{q(f.column)}" for f in model._meta.concrete_fields)
    return text


def for_update(using: str = DEFAULT_DB_ALIAS) -> str:
    """` FOR UPDATE` where the database locks rows (PostgreSQL), else nothing (SQLite)."""
    return " FOR UPDATE" if connections[using].features.has_select_for_update else ""


def cursor(using: str = DEFAULT_DB_ALIAS):
    """A cursor for these statements. On PostgreSQL it binds parameters on the server (psycopg 3's
    `Cursor`, where Django's default is the client-side `ClientCursor`), so that psycopg prepares
    a statement once it has run `prepare_threshold` times on a connection (the DB_PREPARE_THRESHOLD
    setting, memory_console/settings.py) and PostgreSQL stops parsing and planning it each time:
    a quarter of PostgreSQL's CPU a webhook (docs/PERFORMANCE.md). Django's wrapper stays around it
    (its errors, query logging). Elsewhere Django's own cursor."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return connection.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    connection.close_if_health_check_failed()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        return connection._prepare_cursor(ServerBindingCursor(connection.connection))


def _converters(model: type[Model], connection) -> list[tuple[int, list, object]]:
    """(position, converters, expression) of each concrete field of `model` that has converters:
    what `SQLCompiler.get_converters` computes for the same columns."""
    found = []
    for position, field in enumerate(model._meta.concrete_fields):
        expression = field.get_col(model._meta.db_table)
        convs = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
        if convs:
            found.append((position, convs, expression))
    return found


_CONVERTERS: dict[tuple[type[Model], str], list] = {}


def _read(model: type[Model], values: Sequence, connection):
    key = (model, connection.vendor)
    converters = _CONVERTERS.get(key)
    if converters is None:
        converters = _CONVERTERS[key] = _converters(model, connection)
    values = list(values)
    for position, convs, expression in converters:
        value = values[position]
        for converter in convs:
            value = converter(value, expression, connection)
        values[position] = value
    return model.from_db(connection.alias, None, values)


def fetch(
    sql: str, params: Sequence, models: Sequence[type[Model]], *, leading: int = 0, using: str = DEFAULT_DB_ALIAS
) -> list[tuple]:
    """Run a SELECT whose columns are `leading` plain values, then each of `models`' columns in
    turn (`columns(model, alias)`), and return each row as a tuple: the plain values as the
    driver gives them, then one instance per model, as the ORM would have made it."""
    connection = connections[using]
    widths = [len(model._meta.concrete_fields) for model in models]
    with cursor(using) as c:
        c.execute(sql, params)
        rows = c.fetchall()
    out = []
    for row in rows:
        start, item = leading, list(row[:leading])
        for model, width in zip(models, widths, strict=True):
            item.append(_read(model, row[start : start + width], connection))
            start += width
        out.append(tuple(item))
    return out


def scalar(sql: str, params: Sequence, using: str = DEFAULT_DB_ALIAS):
    """The first column of the first row of a SELECT, or None when it returns no row."""
    with cursor(using) as c:
        c.execute(sql, params)
        row = c.fetchone()
    return None if row is None else row[0]


_INSERTS: dict[tuple, tuple[str, tuple]] = {}


def _insert_sql(model: type[Model], connection) -> tuple[str, tuple]:
    key = (model, connection.vendor)
    if key in _INSERTS:
        return _INSERTS[key]
    meta = model._meta
    fields = tuple(f for f in meta.local_concrete_fields if f is not meta.auto_field)
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({names}) VALUES ({marks})"
    if meta.auto_field is not None and connection.features.can_return_columns_from_insert:
        sql += f" RETURNING {connection.ops.quote_name(meta.auto_field.column)}"
    _INSERTS[key] = sql, fields
    return sql, fields


def insert(obj: Model, using: str = DEFAULT_DB_ALIAS) -> Model:
    """INSERT `obj` (a new instance) as `obj.save(force_insert=True)` would, in one statement:
    each field's `pre_save` (auto_now_add, ...) and database value, the new primary key read back
    with RETURNING. Returns `obj`, saved."""
    connection = connections[using]
    sql, fields = _insert_sql(type(obj), connection)
    values = [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
    with cursor(using) as c:
        c.execute(sql, values)
        auto = type(obj)._meta.auto_field
        if auto is not None:
            returned = connection.features.can_return_columns_from_insert
            setattr(obj, auto.attname, c.fetchone()[0] if returned else c.lastrowid)
    obj._state.adding, obj._state.db = False, using
    return obj


def update(obj: Model, fields: Iterable[str], using: str = DEFAULT_DB_ALIAS) -> None:
    """UPDATE the named fields of a saved instance by its primary key, as
    `obj.save(update_fields=fields)` would (each field's `pre_save`, auto_now included)."""
    connection = connections[using]
    meta = type(obj)._meta
    chosen = [meta.get_field(name) for name in fields]
    assignments = ", ".join(f"{connection.ops.quote_name(f.column)} = %s" for f in chosen)
    values = [f.get_db_prep_save(f.pre_save(obj, False), connection) for f in chosen]
    sql = (
        f"UPDATE {connection.ops.quote_name(meta.db_table)} SET {assignments} "
        f"WHERE {connection.ops.quote_name(meta.pk.column)} = %s"
    )
    with cursor(using) as c:
        c.execute(sql, [*values, obj.pk])


def insert_returning(obj: Model, *, links: dict[str, str] | None = None, source: str = "", using=DEFAULT_DB_ALIAS):
    """(sql, params) of an `INSERT ... RETURNING *` of the new instance `obj`, to stand in a
    PostgreSQL data-modifying `WITH` (its values as `insert` takes them). With `links` ({field
    attname: an SQL expression over the WITH query `source`}, such as {"conversation_id": "c.id"}),
    it is an `INSERT ... SELECT ... FROM source`: one row per row of `source`, those columns taken
    from it. The caller reads the rows back with `fetch` and sets nothing on `obj`."""
    connection = connections[using]
    _, fields = _insert_sql(type(obj), connection)
    links = links or {}
    names, items, params = [], [], []
    for f in fields:
        names.append(connection.ops.quote_name(f.column))
        if f.attname in links:
            items.append(links[f.attname])
        else:
            items.append("%s")
            params.append(f.get_db_prep_save(f.pre_save(obj, True), connection))
    table = connection.ops.quote_name(type(obj)._meta.db_table)
    body = f"SELECT {', '.join(items)} FROM {source}" if links else f"VALUES ({', '.join(items)})"
    return f"INSERT INTO {table} ({', '.join(names)}) {body} RETURNING *", params
