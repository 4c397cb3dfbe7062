from __future__ import annotations

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.contrib.auth.models import User
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from studio.accounts.models import Invitation, Role

# The database's limits, so that a long value is a message next to the field, not a
# DataError: the address is also the user name (varchar 150). An invitation's column
# takes 254, but a longer address than a user name could never accept it.
USERNAME_MAX_LENGTH = User._meta.get_field("username").max_length
INVITATION_EMAIL_MAX_LENGTH = min(USERNAME_MAX_LENGTH, Invitation._meta.get_field("email").max_length)


class SignInForm(AuthenticationForm):
    """Django's sign-in form, with the e-mail address as the user name.

    No account has a longer address than a user name, and django-axes would fail
    to record a failure for one longer than 255 characters.
    """

    username = forms.EmailField(
        label=_("Email"),
        max_length=USERNAME_MAX_LENGTH,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
        error_messages={"max_length": _("An address of at most %(limit_value)d characters, please.")},
    )

    def clean_username(self) -> str:
        return self.cleaned_data["username"].strip().lower()


class SignUpForm(forms.Form):
    name = forms.CharField(
        label=pgettext_lazy("person", "Name"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = forms.EmailField(
        label=_("Email"),
        max_length=USERNAME_MAX_LENGTH,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        error_messages={"max_length": _("An address of at most %(limit_value)d characters, please.")},
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 8 characters, not too common."),
    )

    def __init__(self, *args, invitation: Invitation | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.invitation = invitation
        if invitation is not None:
            # The link was mailed to this address, which it therefore proves; the
            # invitation is for that address only.
            self.fields["email"].initial = invitation.email
            self.fields["email"].widget.attrs["readonly"] = True
            self.fields["email"].help_text = _("The address this invitation was sent to.")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if self.invitation is not None and not self.invitation.is_for(email):
            raise forms.ValidationError(
                _(
                    "This invitation is for %(address)s. Sign up with that address, "
                    "or without the invitation for a team of your own."
                )
                % {"address": self.invitation.email}
            )
        if User.objects.filter(username__iexact=email).exists():
            raise forms.ValidationError(_("There is already an account with this address. Sign in instead?"))
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
    name = forms.CharField(label=_("Team name"), max_length=100)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError(_("A team needs a name."))
        return name


def _role_choices(*, include_owner: bool) -> list[tuple[str, str]]:
    return [(value, label) for value, label in Role.choices if include_owner or value != Role.OWNER]


class InvitationForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.CREATOR)
    email = forms.EmailField(
        label=_("Email"),
        max_length=INVITATION_EMAIL_MAX_LENGTH,
        help_text=_("We send the link there. Only an account with this address can accept it."),
        error_messages={
            "required": _("Enter the address of the person you invite."),
            "max_length": _("An address of at most %(limit_value)d characters, please."),
        },
    )

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()

    def __init__(self, *args, include_owner: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = _role_choices(include_owner=include_owner)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)

    def __init__(self, *args, include_owner: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = _role_choices(include_owner=include_owner)


class StudioPasswordResetForm(PasswordResetForm):
    """Django's password reset, with the e-mail written in the language of the account's owner."""

    def send_mail(self, subject_template_name, email_template_name, context, from_email, to_email, **kwargs):
        from studio.accounts.languages import language_of

        with translation.override(language_of(context.get("user"))):
            super().send_mail(
                subject_template_name, email_template_name, context, from_email, to_email, **kwargs
            )
