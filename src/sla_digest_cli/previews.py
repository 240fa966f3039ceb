"""HTML previews of the Slack message and the Teams card, to look at before (or instead of)
posting them: ``DIR/previews/slack.html`` and ``teams.html``.

A small renderer of exactly the elements our payloads use, styled roughly like each client.
It reads the payload, not the summary, so what it shows is what was posted: a name escaped
wrongly in the payload would show wrongly here too. Pages are self-contained (no scripts, no
external resources); every text is HTML-escaped, and only http(s) links become links.
"""

from __future__ import annotations

import html
import re
from typing import Any

__all__ = ["slack_preview", "teams_preview"]

_LINK = re.compile(r"<([^|<>]+)\|([^<>]+)>")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_([^_\n]+)_(?![\w_])")
# Slack's emoji codes as coloured dots: a preview must not depend on an emoji font.
_EMOJI = {
    ":large_green_circle:": '<span class="dot good">●</span>',
    ":large_yellow_circle:": '<span class="dot warn">●</span>',
    ":red_circle:": '<span class="dot bad">●</span>',
    ":warning:": '<span class="dot warn">⚠</span>',
}
_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{style}</style></head>
<body><main class="frame">
<p class="label">{label}</p>
{body}
</main></body></html>
"""
_BASE_STYLE = """
body { margin: 0; background: #f4f4f6; color: #1d1c1d;
  font: 15px/1.46 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
.frame { max-width: 640px; margin: 0 auto; padding: 16px; box-sizing: border-box; }
.label { margin: 0 0 8px; color: #616061; font-size: 12px; text-transform: uppercase;
  letter-spacing: .04em; }
a { color: #1264a3; text-decoration: none; } a:hover { text-decoration: underline; }
* { overflow-wrap: break-word; }
"""
_SLACK_STYLE = """
.message { display: flex; gap: 8px; background: #fff; border-radius: 8px; padding: 12px 16px;
  box-shadow: 0 1px 3px rgba(0,0,0,.12); }
.avatar { flex: 0 0 36px; height: 36px; border-radius: 6px; background: #4a154b; color: #fff;
  font-weight: 700; display: flex; align-items: center; justify-content: center; }
.content { flex: 1; min-width: 0; }
.app { font-weight: 900; } .app small { font-weight: 400; color: #616061; margin-left: 4px;
  background: #e8e8e8; border-radius: 3px; padding: 0 3px; font-size: 10px; }
.header { font-size: 18px; font-weight: 900; margin: 4px 0; }
.context { color: #616061; font-size: 13px; margin: 4px 0; }
.section { margin: 6px 0; }
.fields { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 16px; margin: 8px 0; }
hr { border: 0; border-top: 1px solid #dddddd; margin: 10px 0; }
.dot.good { color: #2bac76; } .dot.warn { color: #e8a723; } .dot.bad { color: #e01e5a; }
"""
_TEAMS_STYLE = """
body { background: #f5f5f5; font-family: "Segoe UI", -apple-system, Roboto, Arial, sans-serif;
  color: #242424; }
.card { background: #fff; border: 1px solid #e0e0e0; border-radius: 4px; padding: 16px 20px;
  box-shadow: 0 2px 4px rgba(0,0,0,.08); }
.card p { margin: 4px 0; }
.size-Large { font-size: 20px; } .size-Small { font-size: 12px; }
.weight-Bolder { font-weight: 600; } .subtle { color: #616161; }
.color-Good { color: #0e7a0b; } .color-Warning { color: #835b00; }
.color-Attention { color: #c4314b; }
.separator { border-top: 1px solid #e0e0e0; padding-top: 8px; margin-top: 12px !important; }
.columns { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.column { flex: 1 1 90px; min-width: 90px; }
table.facts { border-collapse: collapse; margin: 4px 0; }
table.facts th { text-align: left; font-weight: 600; padding: 2px 12px 2px 0;
  vertical-align: top; white-space: nowrap; }
table.facts td { padding: 2px 0; }
.actions { margin-top: 14px; }
.actions a { display: inline-block; border: 1px solid #d1d1d1; border-radius: 4px;
  padding: 6px 12px; color: #242424; font-weight: 600; }
"""


def _escape(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _href(url: str) -> str | None:
    return url if url.lower().startswith(("https://", "http://")) else None


def _page(title: str, label: str, style: str, body: str) -> str:
    return _PAGE.format(
        title=_escape(title), label=_escape(label), style=_BASE_STYLE + style, body=body
    )


# ---------------------------------------------------------------------------------------------
# Slack
# ---------------------------------------------------------------------------------------------


def _slack_plain(text: str) -> str:
    """A run of mrkdwn without links: Slack's three entities undone, then escaped for HTML."""
    raw = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    escaped = _escape(raw)
    for code, emoji in _EMOJI.items():
        escaped = escaped.replace(code, emoji)
    escaped = _BOLD.sub(r"<b>\1</b>", escaped)
    escaped = _ITALIC.sub(r"<i>\1</i>", escaped)
    return escaped.replace("\n", "<br>")


def mrkdwn_html(text: str) -> str:
    """Slack mrkdwn as HTML: ``<url|text>`` links, ``*bold*``, ``_italic_``, line breaks."""
    parts: list[str] = []
    position = 0
    for match in _LINK.finditer(text):
        parts.append(_slack_plain(text[position : match.start()]))
        url = match.group(1).replace("&amp;", "&")
        label = _slack_plain(match.group(2))
        target = _href(url)
        parts.append(f'<a href="{_escape(target)}">{label}</a>' if target else label)
        position = match.end()
    parts.append(_slack_plain(text[position:]))
    return "".join(parts)


def _slack_block(block: dict[str, Any]) -> str:
    kind = block.get("type")
    if kind == "header":
        return f'<div class="header">{_escape(block["text"]["text"])}</div>'
    if kind == "context":
        texts = " ".join(mrkdwn_html(e.get("text", "")) for e in block.get("elements", []))
        return f'<div class="context">{texts}</div>'
    if kind == "divider":
        return "<hr>"
    if kind == "section":
        out = ""
        if "text" in block:
            out += f'<div class="section">{mrkdwn_html(block["text"]["text"])}</div>'
        if block.get("fields"):
            cells = "".join(f"<div>{mrkdwn_html(f['text'])}</div>" for f in block["fields"])
            out += f'<div class="fields">{cells}</div>'
        return out
    return ""


def slack_preview(payload: dict[str, Any]) -> str:
    """The Slack message as an HTML page, roughly as Slack shows it."""
    blocks = "\n".join(_slack_block(block) for block in payload.get("blocks", []))
    body = (
        '<div class="message"><div class="avatar">S</div><div class="content">'
        '<div class="app">SLA digest <small>APP</small></div>'
        f"{blocks}</div></div>"
    )
    return _page(str(payload.get("text", "")), "Slack preview", _SLACK_STYLE, body)


# ---------------------------------------------------------------------------------------------
# Teams
# ---------------------------------------------------------------------------------------------


def _style_classes(element: dict[str, Any]) -> str:
    classes = []
    if element.get("size"):
        classes.append(f"size-{element['size']}")
    if element.get("weight"):
        classes.append(f"weight-{element['weight']}")
    if element.get("color"):
        classes.append(f"color-{element['color']}")
    if element.get("isSubtle"):
        classes.append("subtle")
    if element.get("separator"):
        classes.append("separator")
    return " ".join(_escape(name) for name in classes)


def _run(run: dict[str, Any] | str) -> str:
    if isinstance(run, str):
        return _escape(run)
    text = _escape(run.get("text", ""))
    action = run.get("selectAction") or {}
    target = _href(str(action.get("url", ""))) if action.get("type") == "Action.OpenUrl" else None
    if target:
        text = f'<a href="{_escape(target)}">{text}</a>'
    return f'<span class="{_style_classes(run)}">{text}</span>'


def _element(element: dict[str, Any]) -> str:
    kind = element.get("type")
    classes = _style_classes(element)
    if kind == "TextBlock":
        return f'<p class="{classes}">{_escape(element.get("text", ""))}</p>'
    if kind == "RichTextBlock":
        runs = "".join(_run(run) for run in element.get("inlines", []))
        return f'<p class="{classes}">{runs}</p>'
    if kind == "FactSet":
        rows = "".join(
            f"<tr><th>{_escape(f.get('title', ''))}</th><td>{_escape(f.get('value', ''))}</td></tr>"
            for f in element.get("facts", [])
        )
        return f'<table class="facts">{rows}</table>'
    if kind == "ColumnSet":
        columns = "".join(
            f'<div class="column">{"".join(_element(i) for i in column.get("items", []))}</div>'
            for column in element.get("columns", [])
        )
        return f'<div class="columns">{columns}</div>'
    if kind == "Container":
        return (
            f'<div class="{classes}">{"".join(_element(i) for i in element.get("items", []))}</div>'
        )
    return ""


def teams_preview(payload: dict[str, Any]) -> str:
    """The Teams card (first attachment of the Workflows message) as an HTML page."""
    card = payload["attachments"][0]["content"]
    body = "\n".join(_element(element) for element in card.get("body", []))
    actions = ""
    for action in card.get("actions", []):
        target = _href(str(action.get("url", "")))
        if action.get("type") == "Action.OpenUrl" and target:
            actions += f'<a href="{_escape(target)}">{_escape(action.get("title", ""))}</a> '
    if actions:
        body += f'<div class="actions">{actions}</div>'
    title = str(card.get("fallbackText", "Teams card"))
    return _page(title, "Microsoft Teams preview", _TEAMS_STYLE, f'<div class="card">{body}</div>')
