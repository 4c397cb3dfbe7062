from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import User

from studio.accounts.models import Role


class SignInForm(AuthenticationForm):
    """Django's sign-in form, with the e-mail address as the user name."""

    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip().lower()


class SignUpForm(forms.Form):
    name = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"autocomplete": "name"}))
    email = forms.EmailField(label="Email", widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="At least 8 characters, not too common.",
    )

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(username__iexact=email).exists():
            raise forms.ValidationError("There is already an account with this address. Sign in instead?")
        return email

    def clean(self) -> dict:
        cleaned = super().clean()
        if password := cleaned.get("password"):
            name = cleaned.get("name", "")
            first, _, last = name.partition(" ")
            candidate = User(username=cleaned.get("email", ""), first_name=first, last_name=last)
            try:
                password_validation.validate_password(password, candidate)
            except forms.ValidationError as error:
                self.add_error("password", error)
        return cleaned


class TeamNameForm(forms.Form):
    name = forms.CharField(label="Team name", max_length=100)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("A team needs a name.")
        return name


def _role_choices(*, include_owner: bool) -> list[tuple[str, str]]:
    return [(value, label) for value, label in Role.choices if include_owner or value != Role.OWNER]


class InvitationForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices, initial=Role.CREATOR)
    email = forms.EmailField(
        required=False,
        label="Email (optional)",
        help_text="We send the link there; you can also copy it and share it yourself.",
    )

    def __init__(self, *args, include_owner: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = _role_choices(include_owner=include_owner)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)

    def __init__(self, *args, include_owner: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = _role_choices(include_owner=include_owner)
