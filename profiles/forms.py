from django import forms


class TraitValueForm(forms.Form):
    value = forms.CharField(
        required=False,
        strip=False,
        label="Value",
        help_text="Empty sets the empty string; \\N removes the trait. Arrays: a;b;c or a JSON array.",
    )

    def __init__(self, *args, multiline: bool = False, **kwargs):
        """`multiline`: a text area instead of a one-line box, for a value with line breaks (a
        one-line box would drop them)."""
        super().__init__(*args, **kwargs)
        if multiline:
            self.fields["value"].widget = forms.Textarea(attrs={"rows": 4})
