import phonenumbers
from django import forms

from .models import Store


class StoreSettingsForm(forms.Form):
    name = forms.CharField(
        max_length=Store._meta.get_field("name").max_length,
        help_text="Unique within your account.",
        label="Memory store name",
    )
    description = forms.CharField(
        required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 3}), label="Description"
    )
    default_region = forms.ChoiceField(
        label="Default phone region",
        help_text="Phone numbers written without a country code are read as numbers of this region.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["default_region"].choices = region_choices()


def region_choices():
    return [
        (region, f"{region} (+{phonenumbers.country_code_for_region(region)})")
        for region in sorted(phonenumbers.SUPPORTED_REGIONS)
    ]


class StoreCreateForm(forms.Form):
    name = forms.CharField(
        required=False,
        max_length=Store._meta.get_field("name").max_length,
        label="Memory store name",
        help_text="Leave empty and a readable name is generated for you; you can change it later.",
    )
    description = forms.CharField(
        required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 3}), label="Description"
    )


class StoreDeleteForm(forms.Form):
    confirm_name = forms.CharField(label="Type the memory store name to confirm", required=True)
