# ruff: noqa: RUF001 - Chinese punctuation in Chinese text is intended
"""The composer page, its live preview, validation, remix and access."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from studio.videos import prompting
from studio.videos.models import Generation, Status

HTMX = {"HTTP_HX_REQUEST": "true"}


def form_data(**overrides) -> dict:
    data = {
        "prompt": "A red fox leaps over a frozen stream",
        "subject": "",
        "action": "",
        "scene": "a snowy birch forest at dawn",
        "camera": "slow dolly-in",
        "light": "",
        "sound": "ambient only: wind",
        "negatives": ["no_dialogue", "no_text"],
        "negative_text": "",
        "duration": "5",
        "aspect_ratio": "16:9",
    }
    data.update(overrides)
    return data


@pytest.fixture
def no_enqueue(monkeypatch):
    """Records the submitter's wake-ups instead of sending them (the submitter is not under test here)."""
    calls = []
    monkeypatch.setattr("studio.videos.services.async_task", lambda *args, **kw: calls.append(args))
    monkeypatch.setattr("studio.videos.wakeup.notify", lambda: calls.append(("wake-up",)))
    return calls


# --- The page -----------------------------------------------------------------


def test_it_shows_the_composer(alice_client):
    response = alice_client.get(reverse("compose"))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="composer"' in body
    assert "The more specific, the more stable" in body
    assert 'hx-trigger="input changed delay:300ms, change"' in body
    assert response.context["estimate"].text == "≈ 28,960 output tokens · ≈ $0.43"  # 5 s default
    assert '≈ 28,960 output tokens</span> · <span class="nowrap estimate-usd">≈ $0.43' in body
    assert "cannot be cancelled" in body
    assert 'class="active">Compose</a>' in body
    assert "style=" not in body and "<script>" not in body


def test_the_compose_link_is_in_the_top_bar_everywhere(alice_client):
    body = alice_client.get(reverse("home")).content.decode()
    assert f'href="{reverse("compose")}"' in body


def test_it_needs_sign_in(client, db):
    response = client.get(reverse("compose"))
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_it_refuses_other_methods(alice_client):
    assert alice_client.put(reverse("compose")).status_code == 405
    assert alice_client.get(reverse("compose_preview")).status_code == 405


def test_a_reviewer_sees_it_disabled_with_the_reason(bob_client):
    body = bob_client.get(reverse("compose")).content.decode()
    assert "Reviewers can watch and comment; ask an owner or admin for the creator role to generate." in body
    assert '<fieldset class="composer-fieldset" disabled>' in body
    assert "button button-block generate-button" not in body


def test_a_reviewer_cannot_generate(bob_client, no_enqueue):
    response = bob_client.post(reverse("compose"), form_data(), **HTMX)
    assert response.status_code == 403
    assert not Generation.objects.exists()


# --- Live preview -------------------------------------------------------------


def test_the_preview_shows_exactly_what_will_be_sent(alice_client, settings):
    settings.STUDIO_PUBLIC_URL = ""
    response = alice_client.post(reverse("compose_preview"), form_data(), **HTMX)
    assert response.status_code == 200
    context = response.context
    expected = (
        "A red fox leaps over a frozen stream. Scene: a snowy birch forest at dawn. "
        "Camera: slow dolly-in. Sound: ambient only: wind. No dialogue. No text on screen."
    )
    assert context["compiled"] == expected
    assert json.loads(context["request_json"]) == {
        "model": "gemini-omni-flash-text-to-video",
        "prompt": expected,
        "duration": 5,
        "aspect_ratio": "16:9",
    }
    body = response.content.decode()
    assert 'id="compose-preview"' in body
    assert f"{len(expected)} / 2,000" in body
    assert "Authorization" not in body and "sk-" not in body


def test_the_preview_marks_the_callback_as_set_by_the_studio(alice_client, settings):
    settings.STUDIO_PUBLIC_URL = "https://studio.example.org"
    response = alice_client.post(reverse("compose_preview"), form_data(duration="auto"), **HTMX)
    body = json.loads(response.context["request_json"])
    assert body["callback_url"] == "(set by the studio)"
    assert body["duration"] == "auto"
    assert response.context["estimate"].text == "≈ 57,920 output tokens · ≈ $0.87"
    assert "≈ $0.87" in response.content.decode()


def test_the_preview_survives_tampered_fields(alice_client):
    data = form_data(duration="99", aspect_ratio="4:3", negatives=["no_dialogue", "evil"])
    response = alice_client.post(reverse("compose_preview"), data, **HTMX)
    assert response.status_code == 200
    assert json.loads(response.context["request_json"])["duration"] == 5
    assert "evil" not in response.context["compiled"]


def test_the_preview_shows_hints(alice_client):
    data = form_data(
        prompt="A dancer spins in vertical format, 30 seconds long", scene="", camera="", aspect_ratio="16:9"
    )
    body = alice_client.post(reverse("compose_preview"), data, **HTMX).content.decode()
    assert "vertical/portrait shot, but the aspect ratio is 16:9" in body
    assert "mentions 30 seconds, but the clip will be 5 s" in body
    assert "Add a camera movement" in body


def test_chinese_prompts_get_chinese_negatives(alice_client):
    data = form_data(prompt="一只红狐狸跃过结冰的小溪", scene="黎明的白桦林", camera="", sound="")
    context = alice_client.post(reverse("compose_preview"), data, **HTMX).context
    assert context["compiled"] == "一只红狐狸跃过结冰的小溪。场景：黎明的白桦林。无对白。画面中不要出现文字。"
    assert context["draft"].language == "zh"


# --- Generate -----------------------------------------------------------------


def test_it_stores_the_generation_and_queues_the_submit(
    alice_client, alice, team_a, no_enqueue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            reverse("compose"), form_data(light="golden hour", negative_text="No snow on the lens"), **HTMX
        )
    assert response.status_code == 200
    generation = Generation.objects.get()
    assert generation.team == team_a
    assert generation.author == alice
    assert generation.status == Status.QUEUED
    assert generation.prompt == "A red fox leaps over a frozen stream"
    assert generation.parts == {
        "scene": "a snowy birch forest at dawn",
        "camera": "slow dolly-in",
        "light": "golden hour",
        "sound": "ambient only: wind",
    }
    assert generation.negatives == ["no_dialogue", "no_text"]
    assert generation.negative_text == "No snow on the lens"
    assert generation.compiled_prompt.endswith("No dialogue. No text on screen. No snow on the lens.")
    assert generation.language == "en"
    assert (generation.duration, generation.aspect_ratio) == ("5", "16:9")
    assert generation.estimated_tokens == 28960
    assert str(generation.estimated_usd) == "0.434"
    assert no_enqueue == [("wake-up",)]
    body = response.content.decode()
    assert 'id="recent" class="recent" hx-swap-oob="true"' in body
    assert f'id="card-{generation.code}"' in body
    assert "Sent." in body
    # The form keeps what was typed, for the next iteration.
    assert "A red fox leaps over a frozen stream</textarea>" in body


def test_a_plain_post_redirects_back(alice_client, no_enqueue):
    response = alice_client.post(reverse("compose"), form_data())
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("compose") + "?sent=")
    assert "Sent." in alice_client.get(response["Location"]).content.decode()


def test_generate_compiles_the_prompt_once(alice_client, no_enqueue, monkeypatch):
    compiled = []
    compile_prompt = prompting.compile_prompt
    monkeypatch.setattr(prompting, "compile_prompt", lambda **kw: compiled.append(kw) or compile_prompt(**kw))
    response = alice_client.post(reverse("compose"), form_data())  # a plain POST: no preview drawn
    assert response.status_code == 302
    assert len(compiled) == 1
    assert Generation.objects.get().compiled_prompt == compile_prompt(**compiled[0])


def test_helpers_alone_are_a_prompt(alice_client, no_enqueue):
    data = form_data(prompt="", subject="a lighthouse", action="beams sweep the fog")
    alice_client.post(reverse("compose"), data, **HTMX)
    assert Generation.objects.get().compiled_prompt.startswith(
        "Subject: a lighthouse. Action: beams sweep the fog."
    )


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"prompt": "", "scene": "", "camera": "", "sound": ""},
            "prompt",
            "Write a prompt, or fill in at least one",
        ),
        ({"prompt": "x" * 2100}, "prompt", "the limit is 2,000"),
        ({"duration": "11"}, "duration", "Choose a duration of 3 to 10 seconds, or auto."),
        ({"duration": ""}, "duration", "Choose a duration."),
        ({"aspect_ratio": "4:3"}, "aspect_ratio", "Choose 16:9, 9:16 or auto."),
        ({"negatives": ["no_dialogue", "<script>"]}, "negatives", "is not one of the negatives on offer"),
        ({"subject": "y" * 500}, "subject", "at most 400 characters"),
    ],
)
def test_it_refuses_bad_input_and_keeps_every_value(alice_client, no_enqueue, overrides, field, message):
    data = form_data(negative_text="keep me", **overrides)
    response = alice_client.post(reverse("compose"), data, **HTMX)
    assert response.status_code == 200
    form = response.context["form"]
    assert field in form.errors
    assert message in " ".join(form.errors[field])
    assert not Generation.objects.exists()
    assert no_enqueue == []
    body = response.content.decode()
    assert "keep me</textarea>" in body
    assert "&lt;script&gt;" not in body or field == "negatives"
    if overrides.get("prompt", "A") and field != "prompt":
        assert "A red fox leaps over a frozen stream</textarea>" in body


def test_a_non_htmx_invalid_post_renders_the_whole_page(alice_client, no_enqueue):
    response = alice_client.post(reverse("compose"), form_data(duration="0"))
    assert response.status_code == 200
    assert "<html" in response.content.decode()
    assert "Choose a duration of 3 to 10 seconds" in response.content.decode()


# --- Remix --------------------------------------------------------------------


def make_generation(team, author, **fields) -> Generation:
    values = {
        "prompt": "A paper boat on a rain-soaked street",
        "parts": {"camera": "low tracking shot", "sound": "rain only"},
        "negatives": ["no_music", "no_people"],
        "negative_text": "No umbrellas",
        "compiled_prompt": "A paper boat on a rain-soaked street. Camera: low tracking shot.",
        "duration": "8",
        "aspect_ratio": "9:16",
    }
    values.update(fields)
    return Generation.objects.create(team=team, author=author, **values)


def test_remix_fills_every_field(alice_client, alice, team_a):
    generation = make_generation(team_a, alice)
    response = alice_client.get(reverse("compose") + f"?from={generation.code}")
    assert response.status_code == 200
    draft = response.context["draft"]
    assert draft.prompt == "A paper boat on a rain-soaked street"
    assert draft.parts["camera"] == "low tracking shot"
    assert draft.parts["sound"] == "rain only"
    assert draft.negatives == ("no_music", "no_people")
    assert draft.negative_text == "No umbrellas"
    assert (draft.duration, draft.aspect_ratio) == ("8", "9:16")
    body = response.content.decode()
    assert (
        'value="8" id="id_duration_6" checked' in body
        or 'value="8" checked' in body
        or ('name="duration" value="8"' in body and "checked" in body)
    )
    assert 'value="low tracking shot"' in body


def test_remix_of_another_teams_generation_is_404(charlie_client, alice, team_a):
    generation = make_generation(team_a, alice)
    assert charlie_client.get(reverse("compose") + f"?from={generation.code}").status_code == 404
    assert charlie_client.get(reverse("compose") + "?from=not-a-uuid").status_code == 404


# --- Recent generations and their cards -----------------------------------------


def test_the_page_lists_recent_generations_that_poll_while_in_flight(alice_client, alice, team_a):
    working = make_generation(team_a, alice, status=Status.PROCESSING, progress=42)
    done = make_generation(
        team_a, alice, status=Status.FAILED, error_message="Blocked by the content policy."
    )
    body = alice_client.get(reverse("compose")).content.decode()
    assert f'id="card-{working.code}"' in body and f'id="card-{done.code}"' in body
    assert reverse("compose_card", args=[working.code]) in body
    assert reverse("compose_card", args=[done.code]) not in body
    assert '<progress max="100" value="42"' in body
    assert "Blocked by the content policy." in body


def test_a_card_stops_polling_once_finished(alice_client, alice, team_a):
    generation = make_generation(team_a, alice, status=Status.PROCESSING, progress=10)
    url = reverse("compose_card", args=[generation.code])
    body = alice_client.get(url, **HTMX).content.decode()
    assert 'hx-trigger="every 2s"' in body
    generation.status = Status.FAILED
    generation.save()
    body = alice_client.get(url, **HTMX).content.decode()
    assert "hx-trigger" not in body


def test_a_card_of_another_team_is_404(charlie_client, alice, team_a):
    generation = make_generation(team_a, alice, status=Status.PROCESSING)
    assert charlie_client.get(reverse("compose_card", args=[generation.code])).status_code == 404


def test_a_reviewer_may_watch_cards(bob_client, alice, team_a):
    generation = make_generation(team_a, alice, status=Status.PROCESSING)
    assert bob_client.get(reverse("compose_card", args=[generation.code])).status_code == 200


def test_the_max_prompt_length_is_shown(alice_client):
    assert prompting.MAX_PROMPT_CHARS == 2000
    assert "0 / 2,000" in alice_client.get(reverse("compose")).content.decode()
