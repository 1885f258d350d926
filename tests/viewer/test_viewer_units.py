"""The viewer's pure pieces: filter expressions, the server-side join (checked
against the SDK's `JoinedTable.to_table`), charts, and cell rendering."""

from __future__ import annotations

import datetime as dt
import math
import random
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tablelog as wandb
from tablelog import wire
from tablelog_server.table_filters import FilterError, parse_filter
from tablelog_server.tables import cell_text
from tablelog_server.viewer.cells import render_cell, type_label
from tablelog_server.viewer.charts import line_chart, scalar_series, thin
from tablelog_server.viewer.html import Html, el, url
from tablelog_server.viewer.joins import hash_join

COLUMNS = ["id", "score", "label", "my col"]


@pytest.mark.parametrize(("text", "described"), [
    ("score > 0.5", "score > 0.5"),
    ("score>=1e-3", "score >= 0.001"),
    ('label == "cat"', 'label == "cat"'),
    ("label = 'a b'", 'label == "a b"'),
    ("`my col` ~ 'Dog'", '`my col` contains "Dog"'),
    ("label == null", "label == null"),
    ("id < -2", "id < -2"),
    ("score > 0.5 and label == 'cat'", 'score > 0.5 and label == "cat"'),
    ("not label in ['a', \"b\\\"c\"] or id >= 3", 'not (label in ["a", "b\\"c"]) or id >= 3'),
    ("(id == 1 or id == 2) and score != nan", "(id == 1 or id == 2) and score != nan"),
    ("label not in [1, true]", "label not in [1, true]"),
    ("score < id", "score < id"),
])
def test_expressions_are_read_as_written(text: str, described: str) -> None:
    where = parse_filter(text, COLUMNS).where
    assert where is not None and where.describe() == described


@pytest.mark.parametrize(("text", "message"), [
    ("label == cat", "unknown column 'cat' at character 10 .* quote it: \"cat\""),
    ("nosuch > 3", "unknown column 'nosuch' at character 1 \\(the columns: id, score"),
    ("score >", "expected a column or a value at character 8, found the end"),
    ("score > 0.5 and label == 'x' or", "expected a column or a value"),
    ("(score > 1", "expected '\\)'"),
    ("score > 0.5 label", "expected 'and', 'or' or the end at character 13, found 'label'"),
    ("label in 'x'", "expected '\\[' to start the list"),
    ("label in [id]", "expected a value"),
    ("<script>", "expected a column or a value at character 1, found '<'"),
    ("score ! 3", "unexpected '!' at character 7"),
    ("label not 3", "expected 'in' after 'not'"),
])
def test_what_cannot_be_read_is_an_error_saying_why(text: str, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        parse_filter(text, COLUMNS)


@pytest.mark.parametrize(("text", "searched"), [
    ("cat", "cat"), ("just some words 3", "just some words 3"), ('"<script>"', "<script>"),
    ("'score > 1'", "score > 1")])
def test_only_plain_words_or_one_quoted_string_search_the_text(text: str, searched: str
                                                               ) -> None:
    flt = parse_filter(text, COLUMNS)
    assert flt.where is None and flt.text == searched
    assert not parse_filter("   ", COLUMNS).active


def test_filters_compare_like_the_cells() -> None:
    rows = [[1, 0.7, "cat", "A dog"], [2, None, "dog", None], [3, float("nan"), "cat", 5],
            [4, True, None, "x"], [5, 0.2, "bird", "hotdog"], [6, 2**70, "cat", [1, 2]]]

    def kept(text: str) -> list[int]:
        flt = parse_filter(text, COLUMNS)
        return [r[0] for r in rows if flt.matches(r)]

    assert kept("score > 0.5") == [1, 6]  # None, NaN and booleans are not numbers
    assert kept("score > 1180591620717411303423") == [6]  # ints compare exactly
    assert kept("score != 0.7") == [2, 3, 4, 5, 6]
    assert kept("label == 'cat'") == [1, 3, 6]
    assert kept("label != 'cat'") == [2, 4, 5]
    assert kept("label == null") == [4] and kept("score == true") == [4]
    assert kept("label > 'c'") == [1, 2, 3, 6]  # strings by their order; None never
    assert kept("`my col` ~ 'DOG'") == [1, 5] and kept("`my col` contains 'dog'") == [1, 5]
    assert kept("`my col` == 5") == [3] and kept("`my col` == '[1, 2]'") == [6]
    assert kept("score < id") == [1, 5]  # column to column
    assert kept("label in ['bird', 'dog'] or score == nan") == [2, 5]  # NaN equals nothing
    assert kept("not (label == 'cat') and id >= 4") == [4, 5]
    assert kept("hot") == [5]


# -- the language against a reference, on random tables and filters ----------------------

_REF_COLUMNS = ["a", "b", "c"]
_cells = st.one_of(st.none(), st.booleans(), st.integers(-5, 5),
                   st.floats(-5, 5).map(lambda x: round(x, 1)), st.just(float("nan")),
                   st.sampled_from(["", "x", "ab", "B", "abc"]))
_values = st.one_of(st.none(), st.booleans(), st.integers(-5, 5),
                    st.floats(-5, 5).map(lambda x: round(x, 1)),
                    st.sampled_from(["", "x", "ab", "B", "abc"]))


def _literal(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    return f"'{v}'" if isinstance(v, str) else repr(v)


def _ref_eq(x: object, y: object) -> bool:
    kinds = {type(x) if not isinstance(x, bool) else bool, type(y) if not isinstance(
        y, bool) else bool}
    if x is None or y is None:
        return x is None and y is None
    if kinds <= {int, float}:
        return x == y
    if kinds == {str} or kinds == {bool}:
        return x == y
    return False


def _ref_cmp(op: str, x: object, y: object) -> bool:
    if op == "==":
        return _ref_eq(x, y)
    if op == "!=":
        return not _ref_eq(x, y)
    if op == "contains":
        return x is not None and y is not None and str(y).lower() in str(x).lower() \
            if isinstance(x, str) and isinstance(y, str) else (
                x is not None and y is not None and cell_text(y).lower() in cell_text(
                    x).lower())
    nums = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (x, y))
    strs = all(isinstance(v, str) for v in (x, y))
    if not (nums or strs) or (nums and any(v != v for v in (x, y))):  # type: ignore[comparison-overlap]
        return False
    return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op]  # type: ignore[operator]


@st.composite
def _filters(draw: st.DrawFn, depth: int = 0) -> tuple[str, object]:
    """(filter text, reference predicate over a row dict)."""
    kind = draw(st.sampled_from(["cmp", "cmp", "col", "in"] + (["and", "or", "not"]
                                                              if depth < 3 else [])))
    if kind in ("and", "or"):
        (lt, lf), (rt, rf) = draw(_filters(depth + 1)), draw(_filters(depth + 1))
        both = (lambda r: lf(r) and rf(r)) if kind == "and" else (lambda r: lf(r) or rf(r))
        return f"({lt}) {kind} ({rt})", both
    if kind == "not":
        t, f = draw(_filters(depth + 1))
        return f"not ({t})", lambda r: not f(r)
    column = draw(st.sampled_from(_REF_COLUMNS))
    op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "contains"]))
    if kind == "col":
        other = draw(st.sampled_from(_REF_COLUMNS))
        return f"{column} {op} `{other}`", lambda r: _ref_cmp(op, r[column], r[other])
    if kind == "in":
        values = draw(st.lists(_values, min_size=1, max_size=3))
        negated = draw(st.booleans())
        text = f"{column} {'not in' if negated else 'in'} [{', '.join(map(_literal, values))}]"
        return text, lambda r: any(_ref_eq(r[column], v) for v in values) != negated
    value = draw(_values)
    return (f"{column} {op} {_literal(value)}",
            lambda r: _ref_cmp(op, r[column], value))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_cells, min_size=3, max_size=3), max_size=12), _filters())
def test_the_language_agrees_with_a_reference(rows: list[list[object]],
                                              filt: tuple[str, object]) -> None:
    text, reference = filt
    flt = parse_filter(text, _REF_COLUMNS)
    got = [flt.matches(r) for r in rows]
    want = [reference(dict(zip(_REF_COLUMNS, r, strict=True))) for r in rows]  # type: ignore[operator]
    assert got == want, text


def _sdk_join(left: list[list[object]], right: list[list[object]], how: str
              ) -> tuple[list[str], list[list[object]]]:
    t1 = wandb.Table(columns=["k", "a", "x"], data=left)
    t2 = wandb.Table(columns=["k", "b", "x"], data=right)
    joined = wandb.JoinedTable(t1, t2, "k").to_table(how=how)
    return list(joined.columns), [list(r) for r in joined.data]


@pytest.mark.parametrize("how", ["inner", "left", "outer"])
def test_hash_join_matches_the_sdk(how: str) -> None:
    rnd = random.Random(7)
    for _ in range(30):
        left = [[rnd.choice([None, *range(6)]), rnd.random(), f"l{i}"]
                for i in range(rnd.randrange(12))]
        right = [[rnd.choice([None, *range(6)]), rnd.random(), f"r{i}"]
                 for i in range(rnd.randrange(12))]
        columns, rows, cut = hash_join(["k", "a", "x"], left, ["k", "b", "x"], right,
                                       "k", "k", how)
        assert (columns, rows) == _sdk_join(left, right, how) and not cut
    assert columns == ["k", "a", "x_1", "b", "x_2"]


def test_hash_join_bounds_its_output_and_joins_unhashable_keys() -> None:
    left = [[[1, 2], "a"], [[3], "b"]] + [[0, i] for i in range(10)]
    right = [[[1, 2], "A"]] + [[0, -i] for i in range(10)]
    _, rows, cut = hash_join(["k", "l"], left, ["k", "r"], right, "k", "k", "inner",
                             max_output=50)
    assert rows[0] == [[1, 2], "a", "A"] and len(rows) == 50 and cut
    with pytest.raises(ValueError, match="how"):
        hash_join(["k"], [], ["k"], [], "k", "k", "cross")


def test_scalar_series_and_charts() -> None:
    rows = [{"_step": s, "loss": 1 / (s + 1), "ok": True, "bad": float("nan"), "_t": 3,
             "name": "x"} for s in range(1000)]
    series = scalar_series(rows)
    assert list(series) == ["loss"] and len(series["loss"]) == 1000
    assert len(thin(series["loss"])) == 400 and thin(series["loss"])[-1] == series["loss"][-1]
    svg = line_chart("loss <x>", series["loss"])
    assert "<polyline" in svg and "loss &lt;x&gt;" in svg and "style=" not in svg
    assert "<circle" in line_chart("one", [(0.0, 1.0)])


def test_type_labels() -> None:
    optional = {"wb_type": "union", "params": {"allowed_types": [
        {"wb_type": "none"}, {"wb_type": "number"}]}}
    mixed = {"wb_type": "union", "params": {"allowed_types": [
        {"wb_type": "number"}, {"wb_type": "string"}]}}
    assert [type_label(t) for t in (optional, mixed, {"wb_type": "image-file"}, None)] == [
        "number?", "number | string", "image", "?"]


def test_cells_render_media_and_values_as_escaped_markup() -> None:
    sha = "ab" * 32
    audio = render_cell(wire.MediaRef("audio", sha, 10, {"caption": "<b>"}))
    assert f'<audio controls preload="none" src="/blobs/{sha}">' in audio and "&lt;b&gt;" in audio
    gif = render_cell(wire.MediaRef("video", sha, 10, {"format": "gif"}))
    assert '<img class="thumb"' in gif
    mp4 = render_cell(wire.MediaRef("video", sha, 10, {"format": "mp4"}))
    assert "<video controls" in mp4
    assert "open HTML" in render_cell(wire.MediaRef("html", sha, 10, {}))
    assert "bad address" in render_cell(wire.MediaRef("image", "../../etc", 1, {}))
    assert "array 2×3" in render_cell(np.zeros((2, 3)))
    assert "2024-01-02 03:04:05+00:00" in render_cell(
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    assert render_cell(math.inf).endswith(">∞</span>") and "NaN" in render_cell(math.nan)
    assert "&lt;i&gt;" in render_cell({"<i>": 1}) and "true" in render_cell(True)
    assert "…" in render_cell("x" * 5000)


def test_html_builder_escapes_text_and_attributes() -> None:
    page = el("a", {"href": '"><script>', "title": None, "hidden": True}, "<b>", Html("<i>ok</i>"))
    assert page == '<a href="&quot;&gt;&lt;script&gt;" hidden>&lt;b&gt;<i>ok</i></a>'
    assert url("p", "a/b", "c d", q="x y", empty="", none=None) == "/p/a%2Fb/c%20d?q=x+y"


def _image_ref(**meta: object) -> wire.MediaRef:
    return wire.MediaRef("image", "a" * 64, 10, {"format": "png", "width": 40, "height": 20,
                                                 **meta})


def test_boxes_are_drawn_in_the_images_pixel_grid() -> None:
    from tablelog_server.viewer.overlays import PALETTE

    boxes = {"pred": {"box_data": [
        {"position": {"minX": 2, "maxX": 12, "minY": 4, "maxY": 10}, "domain": "pixel",
         "class_id": 1, "scores": {"conf": 0.25}},
        {"position": {"middle": [0.5, 0.5], "width": 0.5, "height": 0.5}, "class_id": 2,
         "box_caption": "<b>big</b>"},
        {"position": {"minX": "nope"}}],  # unreadable: left out, the cell still shows
        "class_labels": {"1": "cat", "2": "dog"}}}
    html = str(render_cell(_image_ref(boxes=boxes)))
    assert 'viewBox="0 0 40 20"' in html and 'width="128" height="64"' in html
    assert f'<image class="picture" href="/blobs/{"a" * 64}"' in html
    rects = re.findall(r'<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"'
                       r' fill="none" stroke="(#\w+)"', html)
    assert rects == [("2.00", "4.00", "10.00", "6.00", PALETTE[1]),
                     ("10.00", "5.00", "20.00", "10.00", PALETTE[2])]
    assert 'data-set="pred" data-class="1" data-scores="{&quot;conf&quot;: 0.25}"' in html
    assert ">cat conf 0.25</text>" in html and "&lt;b&gt;big&lt;/b&gt;</text>" in html


def test_masks_are_one_layer_per_class_in_its_colour() -> None:
    import base64
    import io

    from PIL import Image as PILImage

    from tablelog_server.viewer.overlays import PALETTE

    ids = np.zeros((20, 40), dtype=np.uint8)
    ids[:, 30:] = 3
    img = wandb.Image(np.zeros((20, 40, 3), np.uint8),
                      masks={"gt": {"mask_data": ids, "class_labels": {0: "sky", 3: "car"}}})
    _, meta = img._encode()
    html = str(render_cell(_image_ref(**meta)))
    layers = re.findall(r'<image class="mask" data-set="gt" data-class="(\d+)" '
                        r'href="data:image/png;base64,([^"]+)"', html)
    assert [c for c, _ in layers] == ["0", "3"]
    car = np.asarray(PILImage.open(io.BytesIO(base64.b64decode(layers[1][1]))))
    assert car.shape == (20, 40, 4)
    assert (car[:, 30:, 3] == 255).all() and (car[:, :30, 3] == 0).all()
    assert "#" + bytes(car[0, 35, :3]).hex() == PALETTE[3]
    assert "<title>gt: car</title>" in html


def test_overlay_controls_list_the_pages_sets_classes_and_scores() -> None:
    from tablelog_server.viewer.overlays import overlay_controls

    boxes = {"pred": {"box_data": [{"position": {"minX": 0, "maxX": 1, "minY": 0, "maxY": 1},
                                    "class_id": 2, "scores": {"conf": 0.4}}],
                      "class_labels": {"2": "dog"}}}
    masks = {"gt": {"png": b"", "class_labels": {"0": "sky", "1": "road"}}}
    assert overlay_controls([[1, "x", _image_ref()]]) is None
    html = str(overlay_controls([[_image_ref(boxes=boxes)], [_image_ref(masks=masks)]]))
    assert re.findall(r'data-set="(\w+)" data-class="(\w+)"', html) == [
        ("pred", "2"), ("gt", "0"), ("gt", "1")]
    assert "pred (boxes)" in html and "gt (masks)" in html
    assert 'data-score="conf" min="0" max="0.4"' in html


def test_html_object3d_and_molecule_cells() -> None:
    html = str(render_cell(wire.MediaRef("html", "b" * 64, 5, {"format": "html"})))
    assert f'<iframe class="html-cell" sandbox="" src="/blobs/{"b" * 64}?as=html"' in html
    cloud = str(render_cell(wire.MediaRef("object3D", "c" * 64, 5,
                                          {"format": "pts.json", "points": 7})))
    assert f'<canvas class="points" data-src="/blobs/{"c" * 64}"' in cloud
    assert "open point cloud (7 points)" in cloud
    mesh = str(render_cell(wire.MediaRef("object3D", "c" * 64, 5, {"format": "glb"})))
    assert "open 3D file (.glb)" in mesh and "canvas" not in mesh
    mol = str(render_cell(wire.MediaRef("molecule", "d" * 64, 5, {"format": "pdb"})))
    assert "open molecule (.pdb)" in mol


def _chart(spec: str, fields: dict[str, object], **strings: object) -> object:
    from tablelog_server.viewer.plots import Chart

    return Chart("k", spec, fields, strings)


def test_the_presets_draw_their_tables() -> None:
    from tablelog_server.viewer.plots import draw

    line = str(draw(_chart("wandb/line/v0", {"x": "a", "y": "b", "stroke": "g"}, title="T"),
                    ["a", "b", "g"], [[2, 1.0, "p"], [1, 3.0, "p"], [0, 2.0, "q"],
                                      [1, None, "q"], [3, "x", "p"]]))
    assert re.findall(r'data-series="(\w+)"', line) == ["p", "q"]
    assert '<title>p: a 1, b 3</title>' in line  # hover values, points sorted by x
    assert "<title>q: a 0, b 2</title>" in line and "a 3" not in line  # non-numbers left out
    bars = str(draw(_chart("wandb/bar/v0", {"label": "n", "value": "v"}), ["n", "v"],
                    [["a", 2], ["b", -1]]))
    assert bars.count('class="mark bar"') == 2 and "<title>b: -1</title>" in bars
    hist = str(draw(_chart("wandb/histogram/v0", {"value": "v"}), ["v"],
                    [[float(i)] for i in range(100)]))
    counts = [int(c) for c in re.findall(r"\): (\d+)</title>", hist)]
    assert len(counts) == 20 and sum(counts) == 100
    cm = str(draw(_chart("wandb/confusion_matrix/v1", {
        "Actual": "A", "Predicted": "P", "nPredictions": "n"}), ["A", "P", "n"],
        [["x", "x", 3.0], ["x", "y", 1.0], ["y", "x", 0.0], ["y", "y", 5.0]]))
    assert re.findall(r'class="count"[^>]*>([\d.]+)<', cm) == ["3", "1", "0", "5"]
    assert "<title>actual x, predicted y: 1</title>" in cm
    assert draw(_chart("me/own/v1", {"x": "a"}), ["a"], [[1]]) is None
    assert draw(_chart("wandb/line/v0", {"x": "nope", "y": "b"}), ["a", "b"], [[1, 2]]) is None


def test_charts_are_read_from_the_runs_config() -> None:
    import tablelog as tl
    from tablelog_server.viewer.plots import charts_of, table_key_of

    chart = tl.plot.line(tl.Table(columns=["a", "b"], data=[[1, 2]]), "a", "b", title="T",
                         split_table=True)
    chart.set_key("loss curve")
    config = {"lr": 1, "_wandb": {"visualize": {"loss curve": chart.spec.config_value}}}
    (found,) = charts_of(config)
    assert (found.key, found.spec, found.title) == ("loss curve", "wandb/line/v0", "T")
    assert table_key_of(found, ["x", "Custom Chart Tables/loss curve_table"]) == \
        "Custom Chart Tables/loss curve_table"
    assert charts_of({"_wandb": "odd"}) == [] and charts_of({}) == []
