"""Jinja2 templates: HTML autoescaped (a customer name cannot add markup), text as is."""

from functools import cache
from pathlib import Path

import jinja2

TEMPLATES = Path(__file__).parent / "templates"


@cache
def _environment(html: bool) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def html(name: str, **context: object) -> str:
    return _environment(True).get_template(f"{name}.html.j2").render(**context)


def text(name: str, **context: object) -> str:
    return _environment(False).get_template(f"{name}.txt.j2").render(**context)


def exists(name: str) -> bool:
    return (TEMPLATES / f"{name}.html.j2").exists() and (TEMPLATES / f"{name}.txt.j2").exists()


def subject(name: str) -> str:
    return (TEMPLATES / f"{name}.subject").read_text().strip()
