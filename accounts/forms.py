from django import forms

from .models import ApiKeyScope, Role


class MemberCreateForm(forms.Form):
    email = forms.EmailField(label="Email")
    first_name = forms.CharField(required=False, max_length=150)
    last_name = forms.CharField(required=False, max_length=150)
    role = forms.ChoiceField(
        choices=Role.choices,
        initial=Role.SUPPORT,
        help_text="Administrators can change everything; Support members can only look.",
    )
    password = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        label="Initial password",
        help_text="Share it with the new member; they sign in with their email and this password.",
    )


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, label="Key name", help_text="Where the key will be used, e.g. “CRM sync”.")
    scope = forms.ChoiceField(
        choices=ApiKeyScope.choices,
        initial=ApiKeyScope.FULL,
        label="Access",
        help_text="A read-only key can read everything but is refused (403) on every change.",
    )
