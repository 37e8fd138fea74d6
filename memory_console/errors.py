"""A validation message that knows where in the input it belongs.

`FieldError` is a `str`, so everything that shows messages keeps working; the JSON API reads its
`loc` to answer 422 with field paths (e.g. ``["body", "traits", "Contact", "age"]``).
"""


class FieldError(str):
    loc: tuple

    def __new__(cls, message: str, loc=()):
        obj = super().__new__(cls, message)
        obj.loc = tuple(loc)
        return obj


def error_items(exc) -> list[dict]:
    """[{"loc": [...], "msg": "..."}] for a Django ValidationError of FieldErrors, dicts or strings."""
    items = []
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            for error in errors:
                items.append({"loc": [field], "msg": _text(error)})
        return items
    for error in exc.error_list:
        message = error.message
        loc = list(getattr(message, "loc", ()))
        items.append({"loc": loc, "msg": _text(error)})
    return items


def _text(error) -> str:
    message = error.message
    if error.params:
        message = message % error.params
    return str(message)
