"""Building HTML safely, with no template engine: `Html` marks text that is already
markup; everything else is escaped on the way in.

    el("a", {"href": url}, "run ", run_name)   # run_name is escaped, whatever it holds

Only code in this package makes `Html` values, from constant tag and attribute
names: a value that came from a table, a run or a request is always a plain
`str` and so always escaped, both as text and inside attribute values. Pages
carry no inline script or style (the Content-Security-Policy forbids both), so
the only way user data could run is through markup, and it never becomes markup.
"""

from __future__ import annotations

import html
import json
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web


class Html(str):
    """Text that is already safe markup (made only by this module's builders)."""

    __slots__ = ()


Child = Any
"""What an element may hold: Html (kept), None (dropped), an iterable of children
(flattened) or anything else (its `str`, escaped)."""

VOID_TAGS = frozenset({"br", "hr", "img", "input", "link", "meta", "source"})

CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; media-src 'self'; "
                           "script-src 'self'; style-src 'self'; object-src 'none'; "
                           "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
"""Viewer pages: scripts and styles only from our static files (no inline code at all)."""

PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # Pages show private data: never keep them in a shared or back/forward cache.
    "Cache-Control": "no-store",
}
"""Headers on every viewer page."""


def esc(value: object) -> Html:
    """`value` as text: markup characters and both quote kinds escaped."""
    if isinstance(value, Html):
        return value
    return Html(html.escape(str(value), quote=True))


def concat(children: Iterable[Child]) -> Html:
    """The children one after the other (escaped unless `Html`)."""
    parts: list[str] = []
    _flatten(children, parts)
    return Html("".join(parts))


def _flatten(children: Iterable[Child], out: list[str]) -> None:
    for child in children:
        if child is None or child is False:
            continue
        if isinstance(child, Html):
            out.append(child)
        elif isinstance(child, str):  # text: quotes need no escaping outside attributes
            out.append(html.escape(child, quote=False))
        elif isinstance(child, Iterable) and not isinstance(child, bytes | Mapping):
            _flatten(child, out)
        else:
            out.append(html.escape(str(child), quote=False))


def el(tag: str, attrs: Mapping[str, object] | None = None, *children: Child) -> Html:
    """An element: attribute values escaped (None/False leave the attribute out, True
    writes it bare), children as in `concat`."""
    parts = [f"<{tag}"]
    for name, value in (attrs or {}).items():
        if value is None or value is False:
            continue
        parts.append(f" {name}" if value is True else f' {name}="{esc(value)}"')
    parts.append(">")
    if tag in VOID_TAGS:
        return Html("".join(parts))
    return Html("".join(parts) + concat(children) + f"</{tag}>")


def url(*segments: str, **query: object) -> str:
    """A viewer path from raw segments (each percent-encoded, so '/' in an entry name
    stays inside its segment) and query parameters (None and '' left out; a list or
    tuple is the parameter repeated, once per item)."""
    path = "/" + "/".join(urllib.parse.quote(s, safe="") for s in segments)
    params: list[tuple[str, str]] = []
    for k, v in query.items():
        for item in v if isinstance(v, list | tuple) else [v]:
            if item is not None and item != "":
                params.append((k, str(item)))
    return f"{path}?{urllib.parse.urlencode(params)}" if params else path


def py_str(value: str) -> str:
    """A Python string literal for `value` (JSON's escapes are valid Python)."""
    return json.dumps(value, ensure_ascii=False)


def python_box(*lines: str) -> Html:
    """The "read this from Python" box every page ends with."""
    code = "\n".join(lines)
    return el("section", {"class": "python"},
              el("h2", None, "Read this from Python"),
              el("pre", None, el("code", {"id": "python-snippet"}, code)),
              el("button", {"type": "button", "class": "copy", "data-copy": "python-snippet",
                            "hidden": True}, "Copy"))


def document(title: str, body: Child, *, entity: str | None,
             crumbs: Iterable[tuple[str, str | None]] = ()) -> Html:
    """A whole page: header (breadcrumbs, who is logged in, logout), then `body`."""
    trail = []
    for i, (label, href) in enumerate(crumbs):
        if i:
            trail.append(el("span", {"class": "sep"}, "/"))
        trail.append(el("a", {"href": href}, label) if href else el("span", None, label))
    account = None
    if entity is not None:
        account = el("form", {"method": "post", "action": "/logout", "class": "logout"},
                     el("span", {"class": "who"}, entity), " ",
                     el("button", {"type": "submit"}, "Log out"))
    return Html("<!doctype html>\n" + el(
        "html", {"lang": "en"},
        el("head", None,
           el("meta", {"charset": "utf-8"}),
           el("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}),
           el("title", None, title, " · tablelog"),
           el("link", {"rel": "icon", "href": "/static/favicon.svg", "type": "image/svg+xml"}),
           el("link", {"rel": "stylesheet", "href": "/static/viewer.css"}),
           el("script", {"src": "/static/viewer.js", "defer": True})),
        el("body", None,
           el("header", None,
              el("a", {"href": "/", "class": "brand"}, "tablelog"),
              el("nav", {"class": "crumbs"}, trail), account),
           el("main", None, el("h1", None, title), body))))


def page_response(text: Html, *, status: int = 200) -> web.Response:
    """A viewer page with the security headers."""
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8",
                        headers=PAGE_HEADERS)


def key_values(items: Iterable[tuple[str, Child]], *, empty: str = "none") -> Html:
    """A two-column table of names and (already rendered or plain) values."""
    rows = [el("tr", None, el("th", {"scope": "row"}, k), el("td", None, v)) for k, v in items]
    if not rows:
        return el("p", {"class": "empty"}, empty)
    return el("table", {"class": "kv"}, el("tbody", None, rows))
