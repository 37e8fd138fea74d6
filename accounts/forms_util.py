from django.core.exceptions import ValidationError


def apply_validation_error(form, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: per field when it names one."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)
