from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat


class UploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv", "class": "form-control"}),
        error_messages={"required": "Choose a CSV file to upload.", "empty": "The file is empty."},
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.IMPORT_MAX_UPLOAD_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                f"{upload.name} is {filesizeformat(upload.size)}; files of at most {filesizeformat(limit)} can be "
                "uploaded. Split it into smaller files."
            )
        return upload


class MappingForm(forms.Form):
    """One "Import?" checkbox and one target per CSV column (``import_<i>``, ``target_<i>``).

    A column is mapped only when its box is checked and a target is chosen.
    """

    def __init__(self, data=None, *, headers: list[str], samples: list[list[str]], choices, suggestions: list[str]):
        super().__init__(data)
        self.headers = headers
        self.samples = samples
        identifiers = [
            (c.value, c.label.removeprefix("Identifier: ")) for c in choices if c.value.startswith("identifier:")
        ]
        traits = [(c.value, c.label) for c in choices if c.value.startswith("trait:")]
        grouped = [("", "Not mapped"), ("Identifiers", identifiers), ("Traits", traits)]
        for column, header in enumerate(headers):
            suggested = suggestions[column] if column < len(suggestions) else ""
            self.fields[f"import_{column}"] = forms.BooleanField(
                required=False,
                initial=bool(suggested),
                label=f"Import column {header}",
                widget=forms.CheckboxInput(attrs={"class": "form-check-input", "data-import-toggle": column}),
            )
            self.fields[f"target_{column}"] = forms.ChoiceField(
                required=False,
                choices=grouped,
                initial=suggested,
                label=f"Map column {header} to",
                widget=forms.Select(attrs={"class": "form-select form-select-sm", "data-import-target": column}),
            )

    def rows(self):
        for column, header in enumerate(self.headers):
            yield {
                "column": column,
                "header": header,
                "samples": self.samples[column] if column < len(self.samples) else [],
                "include": self[f"import_{column}"],
                "target": self[f"target_{column}"],
            }

    def targets(self) -> dict[int, str]:
        """{column index: target} for the checked columns that have a target."""
        chosen = {}
        for column in range(len(self.headers)):
            target = self.cleaned_data.get(f"target_{column}", "")
            if self.cleaned_data.get(f"import_{column}") and target:
                chosen[column] = target
        return chosen
