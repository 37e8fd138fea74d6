from django import forms
from django.core.exceptions import ValidationError

from traits.models import Trait

from .blocking import MAX_PATTERNS, blocked_values_clean
from .defaults import CUSTOM_RULE_LIMIT
from .models import LimitPolicy, RuleSource


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


class BlockedValuesField(forms.CharField):
    """The "Blocked values" textarea: one value per line, checked by `blocked_values_clean` (which
    names the line at fault, NUL included, so Django's generic null-character check is not used)."""

    def __init__(self, **kwargs):
        super().__init__(
            required=False,
            strip=False,
            label="Blocked values",
            help_text=(
                "One per line, at most "
                f"{MAX_PATTERNS}. These values never identify anyone; case is ignored. "
                "* matches any run of characters: noreply@* blocks every address at noreply@."
            ),
            widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "autocapitalize": "off"}),
            **kwargs,
        )
        self.validators = []

    def clean(self, value):
        try:
            return blocked_values_clean(value or "")
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["blocked_values"]) from None


def _limit_policy_field():
    return forms.ChoiceField(
        choices=LimitPolicy.choices,
        initial=LimitPolicy.LIFO,
        required=False,
        widget=forms.RadioSelect,
        label="When the limit is reached",
        help_text=(
            "Keep existing values: a new value is not added to a profile that already holds the limit. "
            "Replace the oldest value: the profile's oldest value of this kind gives way to the new one."
        ),
    )


class _RuleSettingsForm(forms.Form):
    """A field left out of the submitted form keeps what the rule has (None), so a client that
    posts only name and limit changes nothing else."""

    def _missing(self, name: str) -> bool:
        return self.is_bound and name not in self.data

    def clean_limit_policy(self):
        value = self.cleaned_data.get("limit_policy")
        return None if self._missing("limit_policy") or not value else value

    def clean_blocked_values(self):
        return None if self._missing("blocked_values") else self.cleaned_data.get("blocked_values")


class RuleCreateForm(_RuleSettingsForm):
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
        # console.js shows (and enables) the picker only while "Mapped traits" is chosen; without
        # JavaScript, traits picked for an API rule are refused by the service, never dropped.
        self.fields["mapped_traits"].widget.attrs["data-shown-when-source"] = RuleSource.TRAITS
        self.fields["limit_policy"] = _limit_policy_field()
        self.fields["blocked_values"] = BlockedValuesField()
        self.order_fields(["name", "kind", "source", "mapped_traits", "limit", "limit_policy", "blocked_values"])

    def clean(self):
        data = super().clean()
        # A new rule: what is left out takes the defaults.
        if data.get("limit_policy") is None:
            data["limit_policy"] = LimitPolicy.LIFO
        if data.get("blocked_values") is None and "blocked_values" not in self.errors:
            data["blocked_values"] = []
        return data


class RuleEditForm(_RuleSettingsForm):
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
        self.fields["limit_policy"] = _limit_policy_field()
        self.fields["blocked_values"] = BlockedValuesField()
        self.order_fields(["name", "priority", "mapped_traits", "limit", "limit_policy", "blocked_values"])
