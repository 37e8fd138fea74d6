from django import forms


class TraitValueForm(forms.Form):
    value = forms.CharField(
        required=False,
        strip=False,
        label="Value",
        help_text="Empty sets the empty string; \\N removes the trait. Arrays: a;b;c or a JSON array.",
    )
