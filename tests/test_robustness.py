"""Every URL, as every kind of visitor, with real, foreign, missing and hostile input.

The product rules checked here, for each URL the resolver knows:
- no request produces a 5xx;
- charlie (team B) never gets one of team A's objects or its bytes: 404;
- a signed-out visitor never gets a page with team data;
- bob (a reviewer) gets 403 on the actions reviewers may not take;
- a refused request (403, 404, 405, 400 or a bounce to sign-in) changes nothing,
  and no GET changes anything;
- HTML typed by someone is never sent back unescaped.

Each request runs in a savepoint that is rolled back afterwards, so every input
meets the same world (alice's delete does not hide the video from the next one).
The table ROUTES must name every URL: a new URL without an entry fails the test.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import uuid
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.db import connection, transaction
from django.http import Http404
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from studio.accounts.models import Invitation, Membership, Role, Team
from studio.lib.redact import RedactSecrets, redact
from studio.videos import keys
from studio.videos.models import Comment, Generation
from tests.conftest import PASSWORD, make_user
from tests.factories import make_generation, make_ready_generation, sample_mp4

SECRET_PROMPT = "Zanzibar heron SECRETPROMPT glides over the lagoon"
SECRET_COMMENT = "SECRETCOMMENT the heron needs more light"
SCRIPT = "<script>alert(1)</script>"
# Longer than a user name (150) and than django-axes' username column (255).
LONG_EMAIL = "d" * 296 + "@example.org"
TEAM = "<the code of the person's current team>"
API_KEY = "sk-robustness-0123456789abcdef"
COMPOSE = {
    "prompt": "A heron lands on a jetty at dusk",
    "subject": "a grey heron",
    "action": "",
    "scene": "",
    "camera": "",
    "light": "",
    "sound": "",
    "negatives": "no_music",
    "negative_text": "",
    "duration": "5",
    "aspect_ratio": "16:9",
}
GALLERY_QUERY = (
    "q",
    "author",
    "status",
    "review",
    "aspect",
    "duration",
    "favourites",
    "start",
    "end",
    "sort",
    "after",
)


@dataclass(frozen=True)
class Route:
    """How to call one URL, and what the rules expect of it."""

    target: str | None = None  # the object the URL names: generation, comment, membership, ...
    methods: tuple[str, ...] = ("GET", "POST")  # what the view answers; the test sends both anyway
    body: dict[str, Any] = field(default_factory=dict)  # a valid POST body
    tamper: tuple[str, ...] = ()  # fields the view reads besides the body's
    query: tuple[str, ...] = ()  # GET parameters the view reads
    public: bool = False  # open to signed-out visitors
    capability: bool = False  # the URL itself grants access (invitation and reset links)
    reviewer_refused: bool = False  # bob gets 403 on POST
    htmx: bool = False  # the view serves fragments to htmx


ROUTES: dict[str, Route] = {
    # Accounts
    "login": Route(public=True, body={"username": "alice@example.org", "password": PASSWORD}),
    "logout": Route(methods=("POST",), public=True),
    "set_language": Route(
        methods=("POST",), public=True, body={"language": "zh-hans", "next": "/"}, tamper=("next",)
    ),
    "signup": Route(
        public=True,
        query=("invite",),
        body={"name": "Dora Diaz", "email": "dora@example.org", "password": "a long pass phrase 42"},
    ),
    "password_change": Route(
        body={
            "old_password": PASSWORD,
            "new_password1": "another long phrase 42",
            "new_password2": "another long phrase 42",
        }
    ),
    "password_change_done": Route(methods=("GET",)),
    "password_reset": Route(public=True, body={"email": "alice@example.org"}),
    "password_reset_done": Route(methods=("GET",), public=True),
    "password_reset_confirm": Route(
        target="reset",
        public=True,
        capability=True,
        body={"new_password1": "another long phrase 42", "new_password2": "another long phrase 42"},
    ),
    "password_reset_complete": Route(methods=("GET",), public=True),
    "team_settings": Route(methods=("GET",), query=("invited",)),
    "team_rename": Route(methods=("POST",), body={"name": "Renamed"}, reviewer_refused=True),
    "team_switch": Route(methods=("POST",), body={"team": TEAM}),
    "team_leave": Route(methods=("POST",)),
    "invitation_create": Route(
        methods=("POST",), body={"role": "creator", "email": "new@example.org"}, reviewer_refused=True
    ),
    "invitation_revoke": Route(target="invitation_code", methods=("POST",), reviewer_refused=True),
    "member_role": Route(
        target="membership", methods=("POST",), body={"role": "creator"}, reviewer_refused=True
    ),
    "member_remove": Route(target="membership", methods=("POST",), reviewer_refused=True),
    "team_key_save": Route(
        methods=("POST",),
        body={"team": TEAM, "key": API_KEY},
        reviewer_refused=True,
        htmx=True,
    ),
    "team_key_remove": Route(methods=("POST",), body={"team": TEAM}, reviewer_refused=True, htmx=True),
    "team_key_test": Route(methods=("POST",), body={"team": TEAM}, reviewer_refused=True, htmx=True),
    "team_create": Route(body={"name": "Another team"}),
    "invitation": Route(target="invitation", public=True, capability=True),
    # Videos
    "home": Route(methods=("GET",), query=GALLERY_QUERY, htmx=True),
    "gallery_changes": Route(methods=("GET",), query=(*GALLERY_QUERY, "top", "watch", "seen"), htmx=True),
    "generation_detail": Route(target="generation", methods=("GET",)),
    "generation_status": Route(target="generation", methods=("GET",), htmx=True),
    "generation_changes": Route(
        target="generation", methods=("GET",), query=("v", "c", "r", "n", "s"), htmx=True
    ),
    "generation_video": Route(target="generation", methods=("GET",), query=("download",)),
    "generation_poster": Route(target="generation", methods=("GET",)),
    "generation_review": Route(
        target="generation", methods=("POST",), body={"status": "approved"}, reviewer_refused=True, htmx=True
    ),
    "generation_favourite": Route(target="generation", methods=("POST",), htmx=True),
    "generation_regenerate": Route(target="generation", methods=("POST",), reviewer_refused=True, htmx=True),
    "generation_delete": Route(target="generation", methods=("POST",), reviewer_refused=True, htmx=True),
    "generation_task": Route(
        target="generation",
        methods=("POST",),
        body={"task_id": "task-unified-1-abcdefgh"},
        reviewer_refused=True,
    ),
    "comment_add": Route(
        target="generation",
        methods=("POST",),
        body={"body": "Nice light", "at_seconds": "1.5", "end_seconds": "2.5", "drawing": ""},
        htmx=True,
    ),
    "comment_detail": Route(target="comment", methods=("GET",), htmx=True),
    "comment_edit": Route(target="comment", body={"body": "Edited"}, reviewer_refused=True, htmx=True),
    "comment_delete": Route(target="comment", methods=("POST",), reviewer_refused=True, htmx=True),
    "comment_reply": Route(target="comment", methods=("POST",), body={"body": "Agreed"}, htmx=True),
    # bob (a reviewer) neither wrote alice's comment nor made the video.
    "comment_resolve": Route(target="comment", methods=("POST",), reviewer_refused=True, htmx=True),
    "comment_reopen": Route(target="comment", methods=("POST",), reviewer_refused=True, htmx=True),
    "compose": Route(
        body=COMPOSE, tamper=("remix_of",), query=("from", "sent"), reviewer_refused=True, htmx=True
    ),
    # Two codes in the query (another team's: 404); reviewers compare too.
    "compare": Route(methods=("GET",), query=("a", "b", "mode")),
    "compose_preview": Route(methods=("POST",), body=COMPOSE, htmx=True),
    "compose_card": Route(target="generation", methods=("GET",), htmx=True),
    # The browser scripts' translations: the same for everyone, signed in or not.
    "javascript_catalog": Route(methods=("GET",), public=True, query=("language", "v")),
}
# Covered by tests/test_callbacks.py: every answer there is 204 or 405 by design.
SKIPPED = {"evolink_callback"}


def url_names(patterns=None, prefix: str = "") -> dict[str, str]:
    """Every named URL of the project (admin aside), with its route."""
    names: dict[str, str] = {}
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            if not route.startswith("admin/"):
                names.update(url_names(pattern.url_patterns, route))
        elif isinstance(pattern, URLPattern):
            names[pattern.name] = route
    return names


def test_the_table_covers_every_url():
    names = set(url_names())
    assert names - SKIPPED == set(ROUTES), "a URL was added or removed: describe it in ROUTES"
    assert len(ROUTES) == 47


# --- The world every request meets ----------------------------------------------


@dataclass
class World:
    team_a: Team
    team_b: Team
    alice: User
    bob: User
    charlie: User
    generation_a: Generation
    generation_b: Generation
    comment_a: Comment
    comment_b: Comment
    invitation_a: Invitation
    invitation_b: Invitation

    def objects(self, target: str) -> dict[str, str]:
        """The path arguments of each case: team A's object, team B's, none, nonsense."""
        missing = str(uuid.uuid4())
        if target == "generation":
            return {"A": str(self.generation_a.code), "B": str(self.generation_b.code), "missing": missing}
        if target == "comment":
            return {"A": str(self.comment_a.code), "B": str(self.comment_b.code), "missing": missing}
        if target == "membership":
            bob = Membership.objects.get(user=self.bob)
            charlie = Membership.objects.get(user=self.charlie)
            return {"A": str(bob.code), "B": str(charlie.code), "missing": missing}
        if target == "invitation":
            return {"A": self.invitation_a.token, "B": self.invitation_b.token, "missing": "nope"}
        if target == "invitation_code":
            return {"A": str(self.invitation_a.code), "B": str(self.invitation_b.code), "missing": missing}
        raise AssertionError(target)


@pytest.fixture(autouse=True)
def _fast_and_offline(settings, monkeypatch):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The key check asks the provider over HTTP; what it says is not the point here.
    monkeypatch.setattr(keys, "check_team_key", lambda team: keys.KeyCheck(True, "It works."))


@pytest.fixture
def world(db) -> World:
    team_a = Team.objects.create(name="Team Aardvark")
    team_b = Team.objects.create(name="Team Bison")
    alice = make_user("alice@example.org", "Alice Adams")
    bob = make_user("bob@example.org", "Bob Brown")
    charlie = make_user("charlie@example.org", "Charlie Chen")
    Membership.objects.create(team=team_a, user=alice, role=Role.OWNER)
    Membership.objects.create(team=team_a, user=bob, role=Role.REVIEWER)
    Membership.objects.create(team=team_b, user=charlie, role=Role.OWNER)
    generation_a = make_ready_generation(team_a, alice, prompt=SECRET_PROMPT)
    generation_b = make_ready_generation(team_b, charlie)
    make_generation(team_a, alice, status="processing", progress=40)
    return World(
        team_a=team_a,
        team_b=team_b,
        alice=alice,
        bob=bob,
        charlie=charlie,
        generation_a=generation_a,
        generation_b=generation_b,
        comment_a=Comment.objects.create(generation=generation_a, author=alice, body=SECRET_COMMENT),
        comment_b=Comment.objects.create(generation=generation_b, author=charlie, body="Team B's note"),
        invitation_a=Invitation.issue(team=team_a, invited_by=alice, email="new@example.org"),
        invitation_b=Invitation.issue(team=team_b, invited_by=charlie, email="dora@example.org"),
    )


def hostile_values(world: World) -> list[str]:
    """What a tampered form or query string may carry, in any field."""
    return [
        "",
        "-5",
        "99",
        "abc",
        "1e309",
        "-1e309",
        "NaN",
        "inf",
        "99999999999999999999999",
        "1_99999999999999999999",  # a cursor whose id overflows a 64-bit integer
        "9" * 5000,  # more digits than int() converts
        LONG_EMAIL,
        "\x00",
        "a\x00b",
        "x" * 100_000,
        "中文提示词 一只狐狸 🦊🎬",
        SCRIPT,
        "2026-13-45",
        "9999-12-31",
        "0001-01-01",
        "not-a-uuid",
        str(uuid.uuid4()),
        *cross_team_values(world),
    ]


def cross_team_values(world: World) -> list[str]:
    """Both teams' identifiers, where a form or filter names an object: one team's are foreign."""
    values = []
    for team, generation, person, invitation in (
        (world.team_a, world.generation_a, world.alice, world.invitation_a),
        (world.team_b, world.generation_b, world.charlie, world.invitation_b),
    ):
        values += [
            str(team.code),
            str(generation.code),
            str(person.pk),
            f"{generation.code}:queued:0",  # a card the live refresh watches
            f"{generation.code}.1",  # a finished card it has seen
            invitation.token,
        ]
    return values


# Fewer values for one field at a time: the ones most likely to reach a query.
FIELD_VALUES = (
    "",
    "-5",
    "abc",
    "1e309",
    "NaN",
    "99999999999999999999999",
    "1_99999999999999999999",
    "\x00",
    "x" * 100_000,
    "中文提示词 🦊",
    SCRIPT,
    "2026-13-45",
    "9999-12-31",
    "0001-01-01",
    "not-a-uuid",
)
MALFORMED_CODES = ("not-a-uuid", "%00", "x" * 300, "%E4%B8%AD%F0%9F%A6%8A", "..%2F..%2Fetc%2Fpasswd")


_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


def writes(queries: CaptureQueriesContext) -> list[str]:
    """The statements of a request that changed something other than its session.

    Watching the statements rather than comparing tables before and after also
    catches a change the view made and undid (and costs far less).
    """
    return [q["sql"][:120] for q in queries if _WRITE.match(q["sql"]) and "django_session" not in q["sql"]]


# --- Sending requests -----------------------------------------------------------


@dataclass
class Outcome:
    person: str
    method: str
    url: str
    data: dict[str, Any]
    htmx: bool
    status: int
    content: bytes
    location: str
    changed: list[str]
    error: str

    def __str__(self) -> str:
        data = {k: (v[:30] + "…" if isinstance(v, str) and len(v) > 30 else v) for k, v in self.data.items()}
        htmx = " htmx" if self.htmx else ""
        return f"{self.person} {self.method}{htmx} {self.url[:120]} {data} -> {self.status} {self.error}"


def send(client: Client, person: str, method: str, url: str, data: dict, *, htmx: bool = False) -> Outcome:
    """One request in a savepoint that is rolled back, with the client's cookies put back."""
    cookies = {key: morsel.value for key, morsel in client.cookies.items()}
    headers = {"HX-Request": "true"} if htmx else {}
    if htmx and url.split("?")[0] == "/":
        headers["HX-Target"] = "gallery-results"
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        if method == "GET":
            response = client.get(url, data, headers=headers)
        else:
            response = client.post(url, data, headers=headers)
        if getattr(response, "streaming", False):
            content = b"".join(response.streaming_content)
        else:
            content = response.content
        error = ""
        if exc := getattr(response, "exc_info", None):
            error = f"{exc[0].__name__}: {str(exc[1])[:200]}"
        transaction.set_rollback(True)
    client.cookies = SimpleCookie(cookies)
    return Outcome(
        person,
        method,
        url,
        data,
        htmx,
        response.status_code,
        content,
        response.get("Location", ""),
        writes(queries),
        error,
    )


def bad_path(url: str, code: str, malformed: str) -> str:
    return url.replace(code, malformed)


def requests_for(name: str, route: Route, world: World, person: str):
    """(method, url, data, htmx, case) for one URL and one person.

    case is the object the URL names ("A", "B", "missing", "malformed", or None)
    and whether the body is the valid one.
    """
    hostile = hostile_values(world)
    # charlie's team B takes the same paths as alice's team A; bob is refused
    # before his body is read where reviewers may not act.
    deep = person == "alice" or (person == "bob" and not route.reviewer_refused)
    team = world.team_b if person == "charlie" else world.team_a
    body = {key: str(team.code) if value == TEAM else value for key, value in route.body.items()}
    htmx_variants = (False, True) if route.htmx else (False,)

    if route.target == "reset":
        uid_a = urlsafe_base64_encode(force_bytes(world.alice.pk))
        targets = {
            "A": reverse(name, args=[uid_a, default_token_generator.make_token(world.alice)]),
            "missing": reverse(name, args=[urlsafe_base64_encode(b"999999"), "abc-123"]),
        }
        for malformed in MALFORMED_CODES:
            targets[f"malformed {malformed[:10]}"] = f"/password/reset/{malformed}/{malformed}/"
    elif route.target:
        codes = world.objects(route.target)
        targets = {case: reverse(name, args=[code]) for case, code in codes.items()}
        for malformed in MALFORMED_CODES:
            targets[f"malformed {malformed[:10]}"] = bad_path(targets["A"], codes["A"], malformed)
    else:
        targets = {None: reverse(name)}

    for case, url in targets.items():
        for htmx in htmx_variants:
            yield "GET", url, {}, htmx, (case, True)
            yield "POST", url, body, htmx, (case, True)
        if case not in ("A", None):
            continue  # team B, missing and malformed objects are refused before any body is read
        fields = tuple(body) + route.tamper
        if fields:
            yield "POST", url, {}, False, (case, False)
            for value in hostile if deep else ("\x00", "x" * 100_000, LONG_EMAIL, *cross_team_values(world)):
                for htmx in htmx_variants:
                    yield "POST", url, dict.fromkeys(fields, value), htmx, (case, False)
            if person == "alice":  # one field at a time: the same code path for everyone
                for key in fields:
                    for value in FIELD_VALUES:
                        yield "POST", url, {**body, key: value}, False, (case, False)
        if route.query:
            for value in hostile if deep or person == "charlie" else ("\x00", "x" * 100_000):
                for htmx in htmx_variants:
                    yield "GET", url, dict.fromkeys(route.query, value), htmx, (case, False)
            if person == "alice":  # one field at a time: the same code path for everyone
                for key in route.query:
                    for value in FIELD_VALUES:
                        yield "GET", url, {key: value}, False, (case, False)


# --- The rules ------------------------------------------------------------------


def problems(name: str, route: Route, world: World, person: str, outcome: Outcome, case) -> list[str]:
    target, valid = case
    status, found = outcome.status, []

    def wrong(why: str) -> None:
        found.append(f"{why}: {outcome}")

    if status >= 500:
        wrong("server error")
        return found
    refused = status in (400, 403, 404, 405, 429) or "/login/?next=" in outcome.location
    if outcome.method == "GET" and outcome.changed:
        wrong(f"a GET changed something {outcome.changed}")
    if refused and outcome.changed:
        wrong(f"a refused request changed something {outcome.changed}")
    secret = SECRET_PROMPT.encode() in outcome.content or SECRET_COMMENT.encode() in outcome.content
    if SCRIPT.encode() in outcome.content:
        wrong("unescaped HTML sent back")
    if API_KEY.encode() in outcome.content:
        wrong("the team's API key was sent back")
    foreign = target == "A" and not route.capability
    mp4 = sample_mp4()
    if person == "anonymous":
        if secret or (status == 200 and not route.public):
            wrong("team data shown to a signed-out visitor")
        if not route.public and not refused:
            wrong("a signed-out visitor was not sent to sign in")
    if person == "charlie":
        if secret or (target == "A" and mp4[:4096] in outcome.content):
            wrong("team A's data shown to charlie")
        if foreign and status not in (404, 405):
            wrong("charlie did not get 404 for team A's object")
    # A reviewer may be refused before the object is looked up: that tells nothing either.
    reviewer_403 = person == "bob" and route.reviewer_refused and status == 403
    not_ours = target in ("B", "missing") and not route.capability
    if person in ("alice", "bob") and not_ours and status not in (404, 405) and not reviewer_403:
        wrong("another team's or a missing object did not answer 404")
    # A reset link that is not one is answered by Django's "invalid link" page.
    refused_malformed = (302, 400, 403, 404, 405) if route.target != "reset" else (200, 302, 404, 405)
    if str(target).startswith("malformed") and status not in refused_malformed:
        wrong("a malformed code was not refused")
    ours = target in ("A", None)
    # With a tampered team code the answer may be 404; with the real form, 403.
    reviewer_codes = (403,) if valid else (403, 404)
    bob_acts = person == "bob" and route.reviewer_refused and outcome.method == "POST" and ours
    if bob_acts and status not in reviewer_codes:
        wrong("a reviewer was not refused with 403")
    if person == "alice" and valid and ours and outcome.method in route.methods and status >= 400:
        wrong("alice's valid request was refused")
    own_video = name == "generation_video" and person == "alice" and target == "A"
    if own_video and outcome.method == "GET" and status == 200 and outcome.content != mp4:
        wrong("the video's bytes are not the file's")
    return found


PEOPLE = ("anonymous", "alice", "bob", "charlie")


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_no_url_errors_leaks_or_changes_on_refusal(name, world, caplog):
    caplog.set_level(logging.WARNING)
    route = ROUTES[name]
    found: list[str] = []
    count = 0
    for person in PEOPLE:
        client = Client(raise_request_exception=False)
        if person != "anonymous":
            client.force_login(getattr(world, person))
        for method, url, data, htmx, case in requests_for(name, route, world, person):
            outcome = send(client, person, method, url, data, htmx=htmx)
            count += 1
            found += problems(name, route, world, person, outcome, case)
    assert count
    assert not found, f"{len(found)} of {count} requests broke a rule:\n" + "\n".join(found[:40])
    assert not server_errors_logged(caplog)


def test_a_post_without_the_csrf_token_is_refused(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.alice)
    accepted = []
    for name, route in ROUTES.items():
        if "POST" not in route.methods:
            continue
        if route.target == "reset":
            uid = urlsafe_base64_encode(force_bytes(world.alice.pk))
            url = reverse(name, args=[uid, default_token_generator.make_token(world.alice)])
        elif route.target:
            url = reverse(name, args=[world.objects(route.target)["A"]])
        else:
            url = reverse(name)
        body = {key: str(world.team_a.code) if value == TEAM else value for key, value in route.body.items()}
        outcome = send(client, "alice", "POST", url, body)
        if outcome.status != 403 or outcome.changed:
            accepted.append(str(outcome))
    assert not accepted


# --- Bad input: a clear message, and nothing typed is lost ------------------------

TYPED = "Typed-by-hand-4711"
KEEPS_WHAT_WAS_TYPED = [
    ("compose", None, {**COMPOSE, "prompt": f"{TYPED} " + "fox " * 600}, "the limit is"),
    ("comment_add", "generation", {"body": f"{TYPED} " + "y" * 4001}, "at most 4000"),
    ("comment_add", "generation", {"body": f"{TYPED} keep me", "at_seconds": "abc"}, "could not be read"),
    ("comment_add", "generation", {"body": f"{TYPED}\x00"}, "Null characters are not allowed"),
    ("comment_edit", "comment", {"body": f"{TYPED} " + "y" * 4001}, "at most 4000"),
    ("team_rename", None, {"name": f"{TYPED} " + "z" * 100}, "at most 100"),
    ("invitation_create", None, {"role": "creator", "email": f"{TYPED} not an address"}, "valid email"),
    ("invitation_create", None, {"role": "overlord", "email": f"{TYPED}@example.org"}, "valid choice"),
    (
        "signup",
        None,
        {"name": f"{TYPED}", "email": "nope", "password": "a long pass phrase 42"},
        "valid email",
    ),
]


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize(("name", "target", "data", "message"), KEEPS_WHAT_WAS_TYPED)
def test_bad_input_gets_a_message_and_keeps_what_was_typed(world, name, target, data, message, htmx):
    route = ROUTES[name]
    if htmx and not route.htmx:
        pytest.skip("no fragment for this form")
    client = Client()
    if name != "signup":
        client.force_login(world.alice)
    url = reverse(name, args=[world.objects(target)["A"]]) if target else reverse(name)
    outcome = send(client, "alice", "POST", url, data, htmx=htmx)
    html = outcome.content.decode()
    assert outcome.status in (200, 400), outcome
    assert TYPED in html and message in html, outcome
    assert outcome.changed == []


# --- Hostile bytes: what no form sends, on every URL --------------------------------

HUGE = "9" * 5000
# Raw bodies: deep JSON, invalid UTF-8, NUL bytes, a huge number.
HOSTILE_BODIES = (
    (b"[" * 60_000, "application/json"),
    (b'{"id": ' + HUGE.encode() + b', "a": "\\ud800"}', "application/json"),
    (
        b"name=\xff\xfe\xfd&email=\xc3\x28%FF&team=\x00&body=%C0%AF&role=\x80",
        "application/x-www-form-urlencoded",
    ),
    (b"--x\r\nContent-Disposition: form-data; name=\xff\r\n\r\n\x00\r\n", "multipart/form-data; boundary=x"),
)
# Query strings as a client may send them: percent-encoded or raw invalid UTF-8 (WSGI keeps
# bytes as latin-1), NUL bytes, a huge number.
HOSTILE_QUERIES = (
    "q=%FF%FE%FD&status=%C3%28&after=%00&author=" + HUGE,
    "q=\xff\xfe&sort=\x80\x00&start=" + HUGE + "&invite=\xff&next=%FF",
)
# Over-long and malformed headers (a Range of 5,000 nines, a cookie of garbage).
HOSTILE_HEADERS = {
    "HTTP_RANGE": f"bytes={HUGE}-",
    "HTTP_IF_NONE_MATCH": "\xff" * 1000,
    "HTTP_IF_MODIFIED_SINCE": HUGE,
    "HTTP_REFERER": "https://" + "x" * 100_000,
    "HTTP_USER_AGENT": "\xff\x00" * 10_000,
    "HTTP_ACCEPT_LANGUAGE": "x" * 100_000,
    "HTTP_HX_CURRENT_URL": "http://testserver/?" + "x" * 100_000,
    "HTTP_HX_TARGET": "\xff" * 1000,
    "HTTP_X_FORWARDED_FOR": "1." * 50_000,
}


def hostile_requests(url: str):
    """(method, url, body, content type, extra environ) for one URL: bytes no form sends."""
    for body, content_type in HOSTILE_BODIES:
        yield "POST", url, body, content_type, {}
    for query in HOSTILE_QUERIES:
        yield "GET", url, b"", "", {"QUERY_STRING": query}
    for htmx in ("", "true"):
        headers = {**HOSTILE_HEADERS, **({"HTTP_HX_REQUEST": htmx} if htmx else {})}
        yield "GET", url, b"", "", headers
        yield "POST", url, b"a=1", "application/x-www-form-urlencoded", headers
    yield "GET", url, b"", "", {"HTTP_RANGE": f"bytes=-{HUGE}"}
    yield "GET", url, b"", "", {"HTTP_RANGE": "bytes=0-1", "HTTP_IF_RANGE": "\xff" * 10_000}
    yield "GET", url, b"", "", {"HTTP_COOKIE": "sessionid=\xff\x00; csrftoken=" + "x" * 10_000}


def every_url(world: World) -> dict[str, str]:
    """One URL of each name (team A's object where it names one), the callback's included."""
    urls = {}
    for name in url_names():
        route = ROUTES.get(name, Route())
        if name == "evolink_callback":
            urls[name] = f"/hooks/evolink/{world.generation_a.code}/{'t' * 40}/"
        elif route.target == "reset":
            uid = urlsafe_base64_encode(force_bytes(world.alice.pk))
            urls[name] = reverse(name, args=[uid, default_token_generator.make_token(world.alice)])
        elif route.target:
            urls[name] = reverse(name, args=[world.objects(route.target)["A"]])
        else:
            urls[name] = reverse(name)
    return urls


# Refusals Django logs with their exception: a 403, a 404, and a 400 for what it finds
# suspicious (django.security logs those at ERROR, by design).
REFUSALS = (PermissionDenied, Http404, SuspiciousOperation)


def server_errors_logged(caplog) -> list[str]:
    """Log records of the kind a 500 or a swallowed exception leaves: errors and tracebacks."""
    return [
        f"{record.name}: {record.getMessage()[:200]}"
        for record in caplog.records
        if (record.exc_info and not isinstance(record.exc_info[1], REFUSALS))
        or (record.levelno >= logging.ERROR and not record.name.startswith("django.security."))
    ]


def test_hostile_bytes_on_every_url_get_no_5xx_and_no_traceback(world, caplog):
    caplog.set_level(logging.WARNING)
    urls = every_url(world)
    assert set(urls) == set(ROUTES) | SKIPPED
    found: list[str] = []
    count = 0
    for person in ("anonymous", "alice"):
        client = Client(raise_request_exception=False)
        if person == "alice":
            client.force_login(world.alice)
        cookies = {key: morsel.value for key, morsel in client.cookies.items()}
        for name, url in urls.items():
            for method, path, body, content_type, extra in hostile_requests(url):
                with transaction.atomic():
                    if method == "GET":
                        response = client.get(path, **extra)
                    else:
                        response = client.post(path, body, content_type, **extra)
                    if getattr(response, "streaming", False):
                        b"".join(response.streaming_content)
                    transaction.set_rollback(True)
                client.cookies = SimpleCookie(cookies)
                count += 1
                if response.status_code >= 500:
                    found.append(
                        f"{person} {method} {name} {sorted(extra)[:3]} {body[:20]!r} -> {response.status_code}"
                    )
    assert count == 2 * len(urls) * len(list(hostile_requests("/")))
    assert not found, f"{len(found)} of {count} requests got a 5xx:\n" + "\n".join(found[:40])
    assert not server_errors_logged(caplog)


# --- Secrets never reach a log ------------------------------------------------------

CALLBACK_TOKEN = "LiveCallbackToken-4f1c9a0e7b2d48c6a1e3"
UNKNOWN_TOKEN = "LiveLookingInviteToken-9d8c7b6a5f4e"


def failing(message: str):
    """A stand-in for a service that fails, saying where (as a real error message might)."""

    def fail(**kwargs: Any) -> None:
        raise RuntimeError(message)

    return fail


@pytest.fixture
def all_log_output(caplog):
    """Everything logged during the test: pytest's capture at DEBUG, and what the handlers wrote."""
    caplog.set_level(logging.DEBUG)
    streams = []
    for name in ("", "django.server"):
        for handler in logging.getLogger(name).handlers:
            if any(isinstance(f, RedactSecrets) for f in handler.filters):  # settings.LOGGING's
                stream = io.StringIO()
                streams.append((handler, handler.setStream(stream), stream))
    assert streams, "settings.LOGGING names its handlers"

    def output() -> str:
        captured = [caplog.text]
        for record in caplog.records:
            captured += [record.getMessage(), record.exc_text or "", str(record.args)]
        return "\n".join(captured + [stream.getvalue() for _, _, stream in streams])

    yield output
    for handler, previous, _ in streams:
        handler.setStream(previous)


def test_no_log_line_carries_a_callback_or_invitation_token(world, all_log_output, monkeypatch):
    generation = make_generation(
        world.team_a,
        world.alice,
        status="processing",
        task_id="task-unified-1-logs",
        callback_token_hash=hashlib.sha256(CALLBACK_TOKEN.encode()).hexdigest(),
    )
    erin = make_user("erin@example.org", "Erin Eide")
    invitation = Invitation.issue(team=world.team_a, invited_by=world.alice, email="erin@example.org")
    hook = f"/hooks/evolink/{generation.code}/{CALLBACK_TOKEN}/"
    client = Client(raise_request_exception=False)

    # The callback: a body that breaks the JSON parser, a wrong method, and a failure inside.
    assert client.post(hook, "[" * 60_000, "application/json").status_code == 204
    assert client.get(hook).status_code == 405
    with monkeypatch.context() as patch:
        patch.setattr(
            "studio.videos.services.handle_callback",
            failing(f"failed at {hook}"),
        )
        assert client.post(hook, "{}", "application/json").status_code == 204
    # Invitations: an unknown link (404), a wrong method, the sign-up and sign-in it leads to.
    assert client.get(f"/invite/{UNKNOWN_TOKEN}/").status_code == 404
    assert client.get(f"/signup/?invite={invitation.token}").status_code == 200
    assert client.get(f"/login/?next=/invite/{invitation.token}/").status_code == 200
    client.force_login(erin)
    assert client.put(f"/invite/{invitation.token}/").status_code in (200, 405)
    # A 500 on the invitation page: Django's request logger prints the path and the traceback.
    with monkeypatch.context() as patch:
        patch.setattr(
            "studio.accounts.services.accept_invitation",
            failing(f"failed at /invite/{invitation.token}/"),
        )
        assert client.post(f"/invite/{invitation.token}/").status_code == 500
    # runserver's request line goes through the django.server handler.
    logging.getLogger("django.server").info('"%s" %s %s', f"GET /invite/{invitation.token}/ HTTP/1.1", 404, 0)

    output = all_log_output()
    assert "Internal Server Error" in output and "RuntimeError" in output  # it was all logged...
    assert "/invite/[redacted]" in output and "/hooks/evolink/[redacted]" in output
    for token in (CALLBACK_TOKEN, invitation.token, UNKNOWN_TOKEN):
        assert token not in output  # ...without a token


@pytest.mark.parametrize(
    ("line", "redacted"),
    [
        ('"POST /hooks/evolink/abc/s3cret/ HTTP/1.1" 204', '"POST /hooks/evolink/[redacted] HTTP/1.1" 204'),
        ("Not Found: /invite/s3cret/", "Not Found: /invite/[redacted]"),
        ("GET /signup/?invite=s3cret&x=1", "GET /signup/?invite=[redacted]&x=1"),
        ("GET /team/?invited=s3cret", "GET /team/?invited=[redacted]"),
        ("GET /login/?next=%2Finvite%2Fs3cret%2F&a=b", "GET /login/?next=%2Finvite%2F[redacted]&a=b"),
        (
            "Referer: https://studio.example/invite/s3cret/",
            "Referer: https://studio.example/invite/[redacted]",
        ),
        ("GET /videos/abc/ 200", "GET /videos/abc/ 200"),
    ],
)
def test_redact_hides_every_form_of_a_secret_path(line, redacted):
    assert redact(line) == redacted
