"""Templates: every trigger has one, variables are checked when loading, rendering never leaves a blank."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from jinja2.sandbox import SecurityError

from services.common.settings import SettingsError
from services.notifications.domain import Channel
from services.notifications.settings import notifications_settings
from services.notifications.templates import DEFAULT_FOLDER, TemplateError, load_templates, parse_template
from services.notifications.triggers import TRIGGERS

TIER_REACHED = TRIGGERS["tier_reached"]


def template_text(subject: str = "You reached {{ tier }}", variables: str = "tier: gold") -> str:
    return f"variables:\n  {variables}\nsubject: '{subject}'\nbody: 'Hi {{{{ tier }}}}'\nshort: 'x'\n"


def test_the_shipped_templates_load_and_render_every_example_on_every_channel() -> None:
    catalog = load_templates()
    assert catalog.ids() == sorted(TRIGGERS)
    for template_id in catalog.ids():
        template = catalog.get(template_id)
        assert template.category is TRIGGERS[template_id].category
        for channel in Channel:
            rendered = template.render(channel, template.examples)
            assert rendered.body and "{{" not in rendered.body
            assert bool(rendered.subject) is (channel is not Channel.SMS)


@pytest.mark.parametrize(("days_left", "said"), [("0", "today"), ("1", "tomorrow"), ("2", "in 2 days")])
def test_the_days_left_read_as_today_tomorrow_or_in_days(days_left: str, said: str) -> None:
    catalog = load_templates()
    expiring = catalog.get("points_expiring")
    rendered = expiring.render(Channel.EMAIL, {**expiring.examples, "expires_on": "2026-12-08", "days_left": days_left})
    assert rendered.subject == f"300 points expire {said}"
    assert f"300 of your points expire on 2026-12-08, {said}." in rendered.body
    at_risk = catalog.get("tier_at_risk")
    rendered = at_risk.render(Channel.EMAIL, {**at_risk.examples, "requalify_on": "2027-01-01", "days_left": days_left})
    assert f"your gold status is renewed on 2027-01-01, {said}." in rendered.body


def test_a_template_using_an_undeclared_variable_fails_naming_the_text_and_variable() -> None:
    with pytest.raises(TemplateError, match=r"tier_reached.yaml: subject uses \['points'\], not declared"):
        parse_template("tier_reached", template_text(subject="{{ points }} points"), TIER_REACHED, "tier_reached.yaml")


def test_a_template_declaring_a_variable_its_trigger_does_not_provide_fails() -> None:
    with pytest.raises(TemplateError, match=r"declares \['code'\], which the tier_reached trigger does not provide"):
        parse_template("tier_reached", template_text(variables="code: X1"), TIER_REACHED, "tier_reached.yaml")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("variables: {}\nsubject: a\nbody: b\n", "must have exactly the keys"),
        ("variables: {}\nsubject: '{{ oops'\nbody: b\nshort: c\n", "subject line 1"),
        ("variables: {}\nsubject: ''\nbody: b\nshort: c\n", "subject must be non-empty"),
        ("variables: [tier]\nsubject: a\nbody: b\nshort: c\n", "variables must map"),
        (": : :", "not valid YAML"),
    ],
)
def test_malformed_template_files_fail_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(TemplateError, match=problem):
        parse_template("tier_reached", text, TIER_REACHED, "tier_reached.yaml")


def test_a_missing_or_unknown_template_file_stops_the_load(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    shutil.copytree(DEFAULT_FOLDER, folder)
    (folder / "birthday.yaml").unlink()
    with pytest.raises(TemplateError, match=r"no template for the triggers \['birthday'\]"):
        load_templates(folder)
    shutil.copy(DEFAULT_FOLDER / "birthday.yaml", folder / "birthday.yaml")
    shutil.copy(DEFAULT_FOLDER / "birthday.yaml", folder / "birthdy.yaml")
    with pytest.raises(TemplateError, match=r"templates \['birthdy'\] belong to no trigger"):
        load_templates(folder)


def test_rendering_is_sandboxed() -> None:
    text = template_text(subject="{{ tier.__class__.__mro__ }}")
    template = parse_template("tier_reached", text, TIER_REACHED, "t.yaml")
    with pytest.raises(SecurityError):
        template.render(Channel.EMAIL, {"tier": "gold"})


def test_settings_default_and_refuse_what_they_cannot_use() -> None:
    settings = notifications_settings({})
    assert (settings.defaults.time_zone, str(settings.defaults.quiet_hours)) == (
        "UTC",
        "QuietHours(start=datetime.time(21, 0), end=datetime.time(8, 0))",
    )
    assert notifications_settings({"LOYALTY_NOTIFICATIONS_QUIET_HOURS": ""}).defaults.quiet_hours is None
    for name, value in (
        ("LOYALTY_NOTIFICATIONS_TIME_ZONE", "Mars/Olympus"),
        ("LOYALTY_NOTIFICATIONS_QUIET_HOURS", "22:00"),
        ("LOYALTY_NOTIFICATIONS_QUIET_HOURS", "22-07"),
        ("LOYALTY_NOTIFICATIONS_SUMMARY_PERIOD_S", "5"),
    ):
        with pytest.raises(SettingsError, match=name):
            notifications_settings({name: value})
