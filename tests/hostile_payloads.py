"""A catalogue of hostile text: what a customer name, a note, an id or an email field from a source
system may hold, by intent or by accident. tests/test_hostile_data.py pushes every one through
every output (pages, downloads, emails, webhooks); each must arrive as the text it is.

`TEXTS` go where free text goes (names, notes, remittance lines); `BAD_EMAILS` into email fields,
where each must be refused with its reason and only its own email skipped; `GOOD_EMAILS` are the
forms a field may hold and must be accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

# Where an external request would go: the Chromium test records every request to this host.
EVIL = "evil.example"


@dataclass(frozen=True)
class Payload:
    name: str  # what it tries
    kind: str  # sql, html, template, markdown, crlf, formula, unicode, email
    text: str


TEXTS: tuple[Payload, ...] = (
    # SQL: customer text is a parameter, never part of a statement
    Payload("sql_drop", "sql", "Robert'); DROP TABLE customers;--"),
    Payload("sql_tautology", "sql", "' OR '1'='1"),
    Payload("sql_stacked", "sql", "1; SELECT * FROM marts.dim_customers"),
    Payload("sql_attach", "sql", "\"; ATTACH '/tmp/x.duckdb' AS x; --"),
    Payload("sql_like_wildcards", "sql", "100% _match_ \\ all"),
    Payload("sql_dollar_quote", "sql", "$$ select 1 $$"),
    # HTML in pages and emails
    Payload("html_script", "html", "<script>alert('o2c')</script>"),
    Payload("html_img_onerror", "html", f"<img src=http://{EVIL}/onerror.png onerror=alert(1)>"),
    Payload("html_svg_onload", "html", '"><svg onload=alert(1)>'),
    Payload("html_javascript_link", "html", '<a href="javascript:alert(1)">pay here</a>'),
    Payload("html_entities", "html", "&lt;b&gt;not bold&lt;/b&gt; &amp; co"),
    Payload("html_iframe", "html", f'<iframe src="http://{EVIL}/frame"></iframe>'),
    Payload("html_style", "html", "<style>body{display:none}</style>"),
    Payload("html_comment", "html", "Acme <!-- hidden -->"),
    # Templates: data is never a template
    Payload("jinja_expression", "template", "{{ 7*7 }} {{ config }}"),
    Payload("jinja_statement", "template", "{% for x in range(3) %}x{% endfor %}"),
    Payload("python_format", "template", "{0.__class__} %s %(name)s"),
    # Markdown (Streamlit renders it in titles, captions and notes)
    Payload("md_link_and_image", "markdown", f"[x](http://{EVIL})![i](http://{EVIL}/i.png)"),
    Payload("md_emphasis", "markdown", "**bold** _italic_ ~~struck~~"),
    Payload("md_heading", "markdown", "# Heading"),
    Payload("md_list", "markdown", "- item"),
    Payload("md_quote", "markdown", "> quoted"),
    Payload("md_code", "markdown", "`code` ```fence```"),
    Payload("md_latex", "markdown", "$x^2$ and $$\\LaTeX$$"),
    Payload("md_directive", "markdown", ":red[red text] :material/warning: :smile:"),
    Payload("md_autolink", "markdown", f"<http://{EVIL}/auto>"),
    Payload("md_www", "markdown", f"www.{EVIL}/www"),
    Payload("md_email_autolink", "markdown", f"pay@{EVIL}"),
    Payload("md_table", "markdown", "| a | b |"),
    Payload("md_tracking_pixel", "markdown", f"![](http://{EVIL}/pixel.gif)"),
    Payload("md_reference", "markdown", f"[ref] [ref]: http://{EVIL}/ref"),
    # Line breaks: a header injection in an email, a second line anywhere else
    Payload("crlf_bcc", "crlf", f"Acme\r\nBcc: spy@{EVIL}"),
    Payload("lf_subject", "crlf", "Acme\nSubject: pwned"),
    Payload("cr_header", "crlf", "Acme\rX-Injected: 1"),
    Payload("unicode_line_separator", "crlf", "Acme\u2028Line two"),
    Payload("next_line", "crlf", "Acme\x85NEL"),
    # Formulas in CSV and Excel
    Payload("formula_hyperlink", "formula", f'=HYPERLINK("http://{EVIL}/f","click")'),
    Payload("formula_plus", "formula", "+1+1"),
    Payload("formula_minus", "formula", "-2+3"),
    Payload("formula_at", "formula", "@SUM(1+1)"),
    Payload("formula_tab", "formula", "\t=1+1"),
    Payload("formula_dde", "formula", "=cmd|' /C calc'!A0"),
    Payload("formula_carriage_return", "formula", "\r=1+1"),
    Payload("formula_fullwidth", "formula", "\uff1d1+1"),
    # Unicode tricks
    Payload("rtl_override", "unicode", "Acme\u202eCBA.exe"),
    Payload("zero_width", "unicode", "Ac\u200bme"),
    Payload("homoglyph", "unicode", "\u0410cme"),  # a Cyrillic A
    Payload("nul", "unicode", "Acme\x00NUL"),
    Payload("very_long", "unicode", "Long" * 1000),
    Payload("emoji", "unicode", "Acme \U0001f4b8\U0001f3e6"),
    Payload("combining", "unicode", "Ac\u0301\u0301\u0301\u0301me"),
    Payload("byte_order_mark", "unicode", "\ufeffAcme"),
    Payload("bidi_isolate", "unicode", "Acme\u2066isolate\u2069"),
    Payload("zwj_sequence", "unicode", "\U0001f3f3\ufe0f\u200d\U0001f308 flag"),
    # Chat markup (a webhook into Slack or Mattermost): a mention and a disguised link
    Payload("chat_mention_and_link", "chat", f"<!channel> <http://{EVIL}/chat|Pay here> @here"),
)

# Email fields that are not exactly one address: each must be refused.
BAD_EMAILS: tuple[Payload, ...] = (
    Payload("comma_list", "email", f"ap@acme.example, spy@{EVIL}"),
    Payload("angle_trick", "email", f"ap@acme.example>, <spy@{EVIL}"),
    Payload("crlf_bcc", "email", f"ap@acme.example\r\nBcc: spy@{EVIL}"),
    Payload("name_is_an_address", "email", f'"boss@acme.example" <spy@{EVIL}>'),
    Payload("semicolon_list", "email", f"ap@acme.example;spy@{EVIL}"),
    Payload("homoglyph", "email", "\u0430p@acme.example"),  # a Cyrillic a
    Payload("zero_width", "email", "ap@acme.example\u200b"),
    Payload("blank", "email", "   "),
    Payload("local_part_too_long", "email", "x" * 65 + "@acme.example"),
    Payload("two_at_signs", "email", "ap@@acme.example"),
    Payload("two_addresses_by_space", "email", f"ap@acme.example <spy@{EVIL}>"),
    Payload("no_domain_dot", "email", "ap@localhost"),
    Payload("formula", "email", '=HYPERLINK("x")@acme.example'),
)

# The forms an email field may hold (with the address o2c sends to).
GOOD_EMAILS: tuple[tuple[str, str], ...] = (
    ("ap@acme.example", "ap@acme.example"),
    ("  ap@acme.example ", "ap@acme.example"),
    ("<ap@acme.example>", "ap@acme.example"),
    ("Acme AP <ap@acme.example>", "ap@acme.example"),
    ("first.last+ar@sub.acme.example", "first.last+ar@sub.acme.example"),
)

ALL: tuple[Payload, ...] = TEXTS + BAD_EMAILS
