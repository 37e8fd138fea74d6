from django import forms

from traits.models import Trait

from .defaults import CUSTOM_RULE_LIMIT
from .models import RuleSource


class TraitChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.group.name}.{obj.name}"


def _trait_field(store):
    return TraitChoiceField(
        queryset=Trait.objects.filter(store=store).select_related("group").order_by("group__name", "name"),
        required=False,
        label="Mapped traits",
        help_text="Whenever one of these traits is set, its value is also an identifier of this kind.",
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )


class RuleCreateForm(forms.Form):
    name = forms.CharField(max_length=64, strip=False, help_text="What people call this identifier, e.g. User ID.")
    kind = forms.CharField(
        max_length=64, label="Identifier kind", help_text="The key sent through the API, e.g. user_id (a-z, 0-9, _)."
    )
    source = forms.ChoiceField(
        choices=RuleSource.choices, initial=RuleSource.API, widget=forms.RadioSelect, label="Defined by"
    )
    limit = forms.IntegerField(
        min_value=1,
        max_value=100,
        initial=CUSTOM_RULE_LIMIT,
        help_text="The most values of this kind one profile may hold.",
    )

    def __init__(self, *args, store, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["mapped_traits"] = _trait_field(store)


class RuleEditForm(forms.Form):
    name = forms.CharField(max_length=64, strip=False)
    limit = forms.IntegerField(
        min_value=1, max_value=100, help_text="The most values of this kind one profile may hold."
    )
    priority = forms.TypedChoiceField(coerce=int, label="Priority", help_text="1 is the highest priority.")

    def __init__(self, *args, store, rule, rule_count, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["priority"].choices = [(n, str(n)) for n in range(1, rule_count + 1)]
        if rule.source == RuleSource.TRAITS:
            self.fields["mapped_traits"] = _trait_field(store)
