"""Every user string in the benchmark log is text: no injected heading, table cell, HTML tag or link."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt
from record_factory import note, random_eval, training_record

from tunebench.report.formatting import escape_cell, markdown_code, markdown_link, markdown_text
from tunebench.report.markdown import render_log

HOSTILE = [
    "evil|x\n## Injected heading",
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    "`code` **bold** _em_ ~~s~~",
    "# heading\n- item\n> quote",
]


class _Html(HTMLParser):
    """Collects the tags, attributes and table shapes of rendered HTML."""

    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.rows: list[int] = []
        self.headings: list[str] = []
        self._heading: str | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes += attrs
        if tag == "tr":
            self.rows.append(0)
        elif tag in ("td", "th"):
            self.rows[-1] += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self._heading = ""

    def handle_data(self, data):
        if self._heading is not None:
            self._heading += data

    def handle_endtag(self, tag):
        if re.fullmatch(r"h[1-6]", tag) and self._heading is not None:
            self.headings.append(self._heading)
            self._heading = None


def _html(markdown: str) -> _Html:
    parser = _Html()
    renderer = MarkdownIt("commonmark").enable("table").enable("strikethrough")
    renderer.validateLink = lambda url: True  # a viewer that trusts every link: the log itself must not make one
    parser.feed(renderer.render(markdown))
    return parser


def _history(name: str) -> list[dict]:
    evaluation = random_eval("run-eval-0001", name, 1)
    evaluation["probes"][0]["evidence"] = {"reason": name}  # a judge's reason is model-written text
    training = training_record("run-train-01", name)
    training["output"]["name"] = name
    training["phases"][0]["name"] = name
    notes = [note("run-note-0001", "run-eval-0001", name), note("run-note-0002", "run-train-01", name)]
    return [training, evaluation, *notes]


def _table_shapes(html: _Html) -> set[int]:
    return set(html.rows)


@pytest.mark.parametrize("name", HOSTILE, ids=range(len(HOSTILE)))
def test_a_hostile_model_output_or_note_text_renders_as_text(name):
    clean = _html(render_log(_history("plain-name")))
    hostile = _html(render_log(_history(name)))
    assert hostile.headings == [h.replace("plain-name", name.replace("\n", " ")) for h in clean.headings]
    assert not {"script", "img", "blockquote", "del", "strong", "em"} & set(hostile.tags) - set(clean.tags)
    assert hostile.tags.count("a") == clean.tags.count("a") and hostile.tags.count("code") >= clean.tags.count("code")
    assert not any(value and "javascript:" in value for _, value in hostile.attributes)
    assert not any(key.startswith("on") for key, _ in hostile.attributes)
    assert hostile.rows == clean.rows  # the same tables, each row the same number of cells


def test_markdown_text_keeps_plain_names_as_written_and_makes_markup_literal():
    for plain in ("dora-v3", "tiny-dora-curriculum", "federal_income_tax", "gs://bucket/models/v3/", "A100 (80GB)"):
        assert markdown_text(plain) == plain
    assert markdown_text("a|b\n## x") == "a\\|b ## x"
    assert markdown_text("<script>") == "&lt;script>"
    assert markdown_text("[x](javascript:alert(1))") == "\\[x\\](javascript:alert(1))"
    assert escape_cell(markdown_text("a|b")) == "a\\|b"  # escaping a cell twice never unescapes a pipe


def test_code_spans_fence_past_backticks_and_links_refuse_other_schemes():
    assert markdown_code("a`b") == "``a`b``" and markdown_code("`x") == "`` `x ``"
    assert markdown_link("r", "javascript:alert(1)") == "r" and markdown_link("r", "data:text/html,x") == "r"
    assert markdown_link("r", "reports/run 1.html") == "[r](reports/run%201.html)"
    assert markdown_link("r", "https://example.com/x") == "[r](https://example.com/x)"
