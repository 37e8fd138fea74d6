from django import forms

from .models import DataType

NAME_HELP = (
    "Letters, numerals, single spaces between words and the characters ! @ # $ % ^ & * ( ) _ + - = [ ] { } : \\ | . ` ~"
    " < > / ?; accented letters are allowed too."
)


class TraitGroupForm(forms.Form):
    name = forms.CharField(max_length=64, strip=False, help_text=NAME_HELP)
    description = forms.CharField(required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2}))


class TraitForm(forms.Form):
    name = forms.CharField(max_length=64, strip=False, help_text=NAME_HELP)
    data_type = forms.ChoiceField(choices=DataType.choices, label="Data type", initial=DataType.STRING)
    description = forms.CharField(required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2}))
