"""Jinja2 templates: HTML autoescaped (a customer name cannot add markup), text as is.

Every HTML email leaves here with its CSS inlined into `style=""` attributes: Gmail and Outlook
ignore or strip `<style>` blocks, so a style that is not on the element is not seen. Only at-rules
(media queries), which cannot be inlined, stay in a `<style>` block.

Figures are written by core/formatting through the filters `money`, `number`, `date` and `count`
(e.g. `{{ item.open_balance|money(item.currency, 2, locale) }}`): templates format, never compute.
"""

import re
from functools import cache
from pathlib import Path

import css_inline
import jinja2

from core import formatting

TEMPLATES = Path(__file__).parent / "templates"
# What a subject line cannot hold: line breaks and other control characters (a header injection).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

# Never fetch a stylesheet over the network while rendering: every style is in the templates.
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


@cache
def _environment(html: bool) -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    environment.filters.update(
        money=formatting.money,
        number=formatting.number,
        date=formatting.date,
        count=formatting.count,
    )
    return environment


def html(name: str, **context: object) -> str:
    """The HTML body with its CSS inlined."""
    return _INLINER.inline(_environment(True).get_template(f"{name}.html.j2").render(**context))


def text(name: str, **context: object) -> str:
    return _environment(False).get_template(f"{name}.txt.j2").render(**context)


def exists(name: str) -> bool:
    return (TEMPLATES / f"{name}.html.j2").exists() and (TEMPLATES / f"{name}.txt.j2").exists()


def subject(name: str, **context: object) -> str:
    """The one-line subject in `<name>.subject`, a text template (so it can say "1 invoice" or
    "3 invoices" in its own language); line breaks are folded, a header cannot hold them."""
    rendered = _environment(False).get_template(f"{name}.subject").render(**context)
    return " ".join(_CONTROL.sub(" ", rendered).split())
