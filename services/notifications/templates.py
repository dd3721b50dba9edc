"""Message templates: one YAML file per template, checked in full when loaded.

A file `<template id>.yaml` holds `variables` (every variable the texts may
use, each with an example value for previews), `subject` (email subject and
push title), `body` (the email text) and `short` (SMS and push text), in
Jinja2 syntax. Loading fails, naming the file and the problem, when a
template is missing or unknown, a text uses a variable the file does not
declare, or the file declares a variable its trigger does not provide.
Rendering is sandboxed and an undefined variable is an error, never blank.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jinja2
import yaml
from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from services.common.text_files import read_utf8
from services.notifications.domain import Category, Channel
from services.notifications.triggers import TRIGGERS, TriggerSpec

DEFAULT_FOLDER = Path(__file__).parent / "templates"
_TEXTS = ("subject", "body", "short")
_KEYS = {"variables", *_TEXTS}


class TemplateError(ValueError):
    """A template file the service cannot use; the service does not start with it."""


@dataclass(frozen=True)
class Rendered:
    channel: Channel
    subject: str
    body: str


@dataclass(frozen=True)
class Template:
    template_id: str
    category: Category
    # Declared variables, each with its example value.
    examples: Mapping[str, str]
    texts: Mapping[str, jinja2.Template]

    def render(self, channel: Channel, variables: Mapping[str, str]) -> Rendered:
        values = {name: variables[name] for name in self.examples if name in variables}
        short = self.texts["short"].render(values).strip()
        if channel is Channel.SMS:
            return Rendered(channel, "", short)
        subject = self.texts["subject"].render(values).strip()
        body = self.texts["body"].render(values).strip() if channel is Channel.EMAIL else short
        return Rendered(channel, subject, body)


class TemplateCatalog:
    def __init__(self, templates: Mapping[str, Template]) -> None:
        self._templates = dict(templates)

    def __contains__(self, template_id: object) -> bool:
        return template_id in self._templates

    def get(self, template_id: str) -> Template:
        return self._templates[template_id]

    def ids(self) -> list[str]:
        return sorted(self._templates)


def _environment() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False, trim_blocks=True)


def parse_template(template_id: str, text: str, spec: TriggerSpec, where: str) -> Template:
    """One template from its file's text; TemplateError saying what is wrong in `where`."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise TemplateError(f"{where}: not valid YAML: {error}") from None
    if not isinstance(document, dict) or set(document) != _KEYS:
        keys = sorted(document) if isinstance(document, dict) else []
        raise TemplateError(f"{where}: must have exactly the keys {sorted(_KEYS)}, has {keys}")
    examples = document["variables"] or {}
    if not isinstance(examples, dict) or not all(isinstance(k, str) for k in examples):
        raise TemplateError(f"{where}: variables must map each variable name to an example value")
    unprovided = sorted(set(examples) - spec.variables)
    if unprovided:
        raise TemplateError(
            f"{where}: declares {unprovided}, which the {template_id} trigger does not provide "
            f"(it provides {sorted(spec.variables)})"
        )
    environment = _environment()
    texts = {}
    for name in _TEXTS:
        source = document[name]
        if not isinstance(source, str) or not source.strip():
            raise TemplateError(f"{where}: {name} must be non-empty text")
        try:
            used = meta.find_undeclared_variables(environment.parse(source))
            texts[name] = environment.from_string(source)
        except jinja2.TemplateSyntaxError as error:
            raise TemplateError(f"{where}: {name} line {error.lineno}: {error.message}") from None
        undeclared = sorted(used - set(examples))
        if undeclared:
            raise TemplateError(f"{where}: {name} uses {undeclared}, not declared in variables")
    return Template(template_id, spec.category, {k: str(v) for k, v in examples.items()}, texts)


def load_templates(folder: Path = DEFAULT_FOLDER) -> TemplateCatalog:
    """Every trigger's template from `folder`; TemplateError on the first problem found."""
    if not folder.is_dir():
        raise TemplateError(f"template folder {folder} does not exist")
    files = {path.stem: path for path in sorted(folder.glob("*.yaml"))}
    unknown = sorted(set(files) - set(TRIGGERS))
    if unknown:
        raise TemplateError(f"{folder}: templates {unknown} belong to no trigger (triggers: {sorted(TRIGGERS)})")
    missing = sorted(set(TRIGGERS) - set(files))
    if missing:
        raise TemplateError(f"{folder}: no template for the triggers {missing}")
    return TemplateCatalog(
        {
            template_id: parse_template(
                template_id, read_utf8(path, str(path), TemplateError), TRIGGERS[template_id], str(path)
            )
            for template_id, path in files.items()
        }
    )
