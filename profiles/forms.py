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


class ProfileDeleteForm(forms.Form):
    """Typed confirmation of a profile's deletion: its id (as the store delete asks for its name)."""

    confirm = forms.CharField(label="Type the profile's id to confirm", required=True)

    def __init__(self, *args, profile_id: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.profile_id = profile_id

    def clean_confirm(self):
        typed = self.cleaned_data["confirm"].strip().removeprefix("#")
        if typed != str(self.profile_id):
            raise forms.ValidationError(f"Type the profile's id “{self.profile_id}” exactly to delete it.")
        return typed
