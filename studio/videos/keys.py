"""The team's EvoLink key: which one a team uses, kept encrypted, the client built
from it, and the views that save, test and remove it.

A team's own key wins; else the deployment's EVOLINK_API_KEY; else nobody has
a key and the studio runs in demo mode against the local demo provider.
Owners and admins manage it. The key goes in once and never comes back out:
pages show its last four characters, and nothing here logs or echoes it.
`manage.py rotatekeys` (beside this module) re-encrypts the stored keys.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_POST

from studio.accounts.access import current_membership, member_required
from studio.accounts.models import Membership, Team
from studio.lib import crypto
from studio.videos import failures
from studio.videos.evolink import EvolinkClient, EvolinkError

log = logging.getLogger(__name__)

# Sent to the demo provider, which accepts any non-empty key.
DEMO_API_KEY = "sk-demo-omni-studio"
# A task id no one has: querying it shows whether a key authenticates
# (404 not found) without creating, and so paying for, anything.
PROBE_TASK_ID = "task-unified-0-keycheck"
_KEY_SHAPE = re.compile(r"^[\x21-\x7e]{8,512}$")


def clean_api_key(value: str) -> str:
    """The key as it will be stored, or ValueError with a message for the form."""
    key = (value or "").strip()
    if key.lower().startswith("bearer "):
        key = key[7:].strip()
    if not key:
        raise ValueError(gettext("Paste the API key from your EvoLink dashboard."))
    if not _KEY_SHAPE.match(key):
        raise ValueError(
            gettext("That does not look like an API key: it should be 8 to 512 characters, without spaces.")
        )
    return key


def set_team_key(team: Team, key: str) -> None:
    key = clean_api_key(key)
    team.api_key_encrypted = crypto.encrypt(key)
    team.api_key_last4 = key[-4:]
    team.api_key_set_at = timezone.now()
    team.save(update_fields=["api_key_encrypted", "api_key_last4", "api_key_set_at"])
    log.info("Team %s: EvoLink key set (ending %s)", team.code, team.api_key_last4)


def clear_team_key(team: Team) -> None:
    team.api_key_encrypted = ""
    team.api_key_last4 = ""
    team.api_key_set_at = None
    team.save(update_fields=["api_key_encrypted", "api_key_last4", "api_key_set_at"])
    log.info("Team %s: EvoLink key removed", team.code)


def has_team_key(team: Team | None) -> bool:
    return bool(team is not None and team.api_key_encrypted)


def team_api_key(team: Team | None) -> str:
    """The key this team's requests use: its own, else the deployment's, else "".

    A stored key that no configured encryption key can read (the keys were
    changed without rotating) raises a permanent EvolinkError: silently falling
    back to another key would bill the wrong account.
    """
    if has_team_key(team):
        try:
            key, current = crypto.decrypt_current(team.api_key_encrypted)
        except crypto.DecryptionError:
            log.error("Team %s: the stored EvoLink key cannot be decrypted", team.code)
            raise EvolinkError(
                "The team's EvoLink key cannot be read with the studio's encryption keys; "
                "an owner or admin needs to enter it again in team settings.",
                type="key_unavailable",
                permanent=True,
            ) from None
        if not current:
            _reencrypt(team, key)
        return key
    return settings.EVOLINK_API_KEY or ""


def _reencrypt(team: Team, key: str) -> None:
    """After a key rotation: store the team's key encrypted with the current key (once, whoever is first)."""
    old = team.api_key_encrypted
    new = crypto.encrypt(key)
    try:
        Team.objects.filter(pk=team.pk, api_key_encrypted=old).update(api_key_encrypted=new)
    except DatabaseError:
        log.warning("Team %s: the EvoLink key could not be re-encrypted now; next time", team.code)
        return
    team.api_key_encrypted = new
    log.info("Team %s: EvoLink key re-encrypted with the current key", team.code)


def is_demo_mode(team: Team | None = None) -> bool:
    """No key anywhere: neither the deployment nor (when given) the team has one."""
    return not settings.EVOLINK_API_KEY and not has_team_key(team)


def demo_base_url() -> str:
    return f"http://127.0.0.1:{settings.STUDIO_DEMO_PROVIDER_PORT}"


def client_for_team(team: Team | None, **options: object) -> EvolinkClient:
    """A client for this team's requests; options go to EvolinkClient (e.g. max_retries)."""
    options = {
        "connect_timeout": settings.EVOLINK_CONNECT_TIMEOUT,
        "read_timeout": settings.EVOLINK_READ_TIMEOUT,
        "allow_http_callbacks": settings.STUDIO_CALLBACKS_ALLOW_HTTP,
        **options,
    }
    if is_demo_mode(team):
        return EvolinkClient(demo_base_url(), DEMO_API_KEY, **options)  # type: ignore[arg-type]
    return EvolinkClient(settings.EVOLINK_BASE_URL, team_api_key(team), **options)  # type: ignore[arg-type]


def private_results_allowed(team: Team | None) -> bool:
    """Result links on loopback/private addresses are fine from the demo provider only."""
    return is_demo_mode(team) or settings.STUDIO_ALLOW_PRIVATE_RESULT_URLS


def rotate_keys() -> tuple[int, int]:
    """Re-encrypt every team key with the first encryption key: (rotated, unreadable)."""
    rotated = unreadable = 0
    for team_id in Team.objects.exclude(api_key_encrypted="").values_list("id", flat=True):
        with transaction.atomic():
            team = Team.objects.select_for_update().get(pk=team_id)
            if not team.api_key_encrypted:
                continue
            try:
                team.api_key_encrypted = crypto.rotate(team.api_key_encrypted)
            except crypto.DecryptionError:
                log.error("Team %s: the stored EvoLink key cannot be decrypted; left as is", team.code)
                unreadable += 1
                continue
            team.save(update_fields=["api_key_encrypted"])
            rotated += 1
    return rotated, unreadable


@dataclass(frozen=True)
class KeyCheck:
    works: bool
    message: str


def check_team_key(team: Team) -> KeyCheck:
    """Ask the provider whether the key this team uses authenticates."""
    if is_demo_mode(team):
        source = gettext("the local demo provider")
    elif has_team_key(team):
        source = gettext("the team's key (••••%(last4)s)") % {"last4": team.api_key_last4}
    else:
        source = gettext("the studio's shared key")
    works = gettext("It works: EvoLink accepted %(source)s.") % {"source": source}
    try:
        with client_for_team(team, max_retries=1, read_timeout=15) as client:
            client.get_task(PROBE_TASK_ID)
    except EvolinkError as exc:
        said = (
            " " + gettext("EvoLink said: %(message)s") % {"message": exc.message}
            if exc.message and exc.status
            else ""
        )
        if exc.status == 404:
            return KeyCheck(True, works)
        if exc.status == 401:
            text = gettext("EvoLink refused %(source)s: it is invalid or revoked.")
            return KeyCheck(False, text % {"source": source} + said)
        if exc.status == 403:
            text = gettext("EvoLink accepted %(source)s but does not allow it to do this.")
            return KeyCheck(False, text % {"source": source} + said)
        if exc.type == "key_unavailable":
            return KeyCheck(False, failures.translate(exc.message))
        if exc.status is None:
            text = gettext("Could not reach EvoLink to check %(source)s; try again in a minute.")
            return KeyCheck(False, text % {"source": source})
        text = gettext("EvoLink answered %(status)s while checking %(source)s.")
        return KeyCheck(False, text % {"status": exc.status, "source": source} + said)
    # A made-up task id should not exist; an answer still proves the key works.
    return KeyCheck(True, works)


# --- The views (team settings, owners and admins) ---------------------------------

FRAGMENT = "accounts/team_settings_key.html"


def _manager_team(request: HttpRequest) -> Team:
    """The team the form was about, if the person manages it (403 if not, 404 for outsiders).

    The forms carry the team's code: a tab left open on another team, or a
    forged code for someone else's team, must not change the current team.
    """
    if raw := request.POST.get("team", ""):
        try:
            code = uuid.UUID(raw)
        except ValueError:  # a tampered form: as unknown as someone else's team
            raise Http404("No such team.") from None
        if code != request.team.code:
            if not Membership.objects.filter(team__code=code, user=request.user).exists():
                raise Http404("No such team.")
            raise PermissionDenied("This form belongs to another of your teams; reload the page.")
    if not request.membership.is_manager:
        raise PermissionDenied("Only owners and admins manage the team's EvoLink key.")
    return request.team


class ApiKeyForm(forms.Form):
    key = forms.CharField(
        label=gettext_lazy("EvoLink API key"),
        strip=True,
        max_length=600,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}),
        error_messages={"required": gettext_lazy("Paste the API key from your EvoLink dashboard.")},
    )

    def clean_key(self) -> str:
        try:
            return clean_api_key(self.cleaned_data["key"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


def _answer(
    request: HttpRequest,
    team: Team,
    *,
    notice: str = "",
    ok: bool = True,
    form: ApiKeyForm | None = None,
) -> HttpResponse:
    """htmx gets the fragment back; a plain POST is redirected, or shown its errors."""
    if request.htmx:
        context = {
            "team": team,
            "membership": request.membership,
            "key_form": form,
            "key_notice": notice,
            "key_notice_ok": ok,
            "demo_mode": is_demo_mode(team),
            # The top bar's demo banner follows the key, out of band: no reload to see it go.
            "banner_oob": True,
        }
        # 200 even for a bad value: htmx does not swap error statuses by default.
        return render(request, FRAGMENT, context)
    if form is not None and form.errors:
        context = {"team": team, "membership": request.membership, "key_form": form}
        return render(request, "accounts/team_key.html", context, status=400)
    if notice:
        (messages.success if ok else messages.error)(request, notice)
    return redirect("team_settings")


@require_POST
@member_required
def team_key_save(request: HttpRequest) -> HttpResponse:
    team = _manager_team(request)
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _answer(request, team, form=form)
    replaced = has_team_key(team)
    set_team_key(team, form.cleaned_data["key"])
    if replaced:
        notice = gettext("EvoLink key replaced; it ends in %(last4)s.")
    else:
        notice = gettext("EvoLink key saved; it ends in %(last4)s.")
    return _answer(request, team, notice=notice % {"last4": team.api_key_last4})


@require_POST
@member_required
def team_key_remove(request: HttpRequest) -> HttpResponse:
    team = _manager_team(request)
    if has_team_key(team):
        clear_team_key(team)
        notice = gettext("The team's EvoLink key was removed.")
    else:
        notice = gettext("The team had no EvoLink key.")
    if is_demo_mode(team):
        notice += " " + gettext("With no key at all, videos are generated by the local demo provider.")
    return _answer(request, team, notice=notice)


@require_POST
@member_required
def team_key_test(request: HttpRequest) -> HttpResponse:
    team = _manager_team(request)
    check = check_team_key(team)
    return _answer(request, team, notice=check.message, ok=check.works)


def demo_mode(request: HttpRequest) -> dict:
    """Context processor: whether the current team runs on the demo provider (the top bar says so)."""
    membership = current_membership(request)
    return {"demo_mode": is_demo_mode(membership.team if membership else None)}
