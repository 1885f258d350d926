"""Structured column types and inference: what type a column takes from a value.

`type_of` maps a column's first value to its type; `check_column` checks a
whole column of values against a type, fast path first. See `tablelog.data_types.dtypes`.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tablelog.data_types.dtype_core import (
    BOOL_CLASSES,
    BOOLEAN,
    COMPLEX_CLASSES,
    FLOAT_CLASSES,
    INT_CLASSES,
    NONE,
    NUMBER,
    SEQUENCE_CLASSES,
    STRING,
    TIMESTAMP,
    DType,
    SimpleType,
    UnionType,
    is_missing,
    optional,
)
from tablelog.data_types.media_base import Media
from tablelog.errors import TableArgumentError, TableArgumentTypeError


class UnknownType(SimpleType):
    """No value seen yet: the first non-missing value decides the type."""

    wb_type = "unknown"

    def accepts(self, value: Any) -> bool:
        return False

    def assign(self, value: Any) -> DType | None:
        return None if is_missing(value) else type_of(value)

    def describe(self) -> str:
        return "any one type"


def _check_linked_table(table: Any, what: str) -> None:
    if getattr(type(table), "_log_type", None) != "table":
        raise TableArgumentTypeError(f"{what} needs a Table to point into, got "
                                     f"{type(table).__name__}")


class ForeignKeyType(DType):
    """A string column pointing at another table's key column (`Table.set_fk`)."""

    wb_type = "foreignKey"

    def __init__(self, table: Any = None, col_name: str | None = None) -> None:
        if table is not None:  # None: read back from the wire, where links are not kept
            _check_linked_table(table, "ForeignKeyType")
            if col_name not in table.columns:
                raise TableArgumentError(f"ForeignKeyType: the table has no column named "
                                         f"{col_name!r}; its columns are {list(table.columns)}")
        self.table = table  # not part of equality: a link, not a type
        self.col_name = col_name

    def assign(self, value: Any) -> DType | None:
        if not isinstance(value, str):
            return None
        # a key of another table (or column) does not fit, as in wandb
        if getattr(value, "_table", self.table) is not self.table or getattr(
                value, "_col_name", self.col_name) != self.col_name:
            return None
        return self

    def params(self) -> dict[str, Any]:
        return {"col_name": self.col_name}

    def describe(self) -> str:
        return f"foreign key to column {self.col_name!r} (string)"


class ForeignIndexType(DType):
    """An int column of row indexes into another table (values of `Table.get_index`)."""

    wb_type = "foreignIndex"

    def __init__(self, table: Any = None) -> None:
        if table is not None:
            _check_linked_table(table, "ForeignIndexType")
        self.table = table

    def assign(self, value: Any) -> DType | None:
        ok = (isinstance(value, int | np.integer) and not isinstance(value, bool)
              and getattr(value, "_table", self.table) is self.table)
        return self if ok else None

    def describe(self) -> str:
        return "row index (int)"


class MediaType(DType):
    """Media values of one kind: image, audio, video or html."""

    wb_type = "media"

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def assign(self, value: Any) -> DType | None:
        return self if isinstance(value, Media) and value._kind == self.kind else None

    @property
    def fast_types(self) -> frozenset[type]:
        cls = Media.registry().get(self.kind)
        return frozenset() if cls is None else frozenset({cls})

    def to_plain(self) -> dict[str, Any]:
        return {"wb_type": f"{self.kind}-file"}

    def describe(self) -> str:
        return self.kind.capitalize()


_LAYER_PARAMS = ("box_layers", "box_score_keys", "mask_layers", "box_class_maps",
                 "mask_class_maps", "class_map")


def _image_layers(image: Any) -> dict[str, Any]:
    """wandb's image-file params of one Image: its box and mask sets' class ids and
    labels, the score names of its boxes, its `Classes`."""
    boxes, masks = getattr(image, "_boxes", None) or {}, getattr(image, "_masks", None) or {}
    classes = getattr(image, "_classes", None)
    return {
        "box_layers": {str(k): set(v["class_labels"]) for k, v in boxes.items()},
        "box_score_keys": {str(n) for v in boxes.values() for box in v["box_data"]
                           for n in box.get("scores") or {}},
        "mask_layers": {str(k): set(m.class_labels) for k, m in masks.items()},
        "box_class_maps": {str(k): {str(c): n for c, n in v["class_labels"].items()}
                           for k, v in boxes.items()},
        "mask_class_maps": {str(k): {str(c): n for c, n in m.class_labels.items()}
                            for k, m in masks.items()},
        "class_map": {str(c): n for c, n in classes.labels().items()} if classes else {}}


def _merge_layers(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Union of two images' params, the first's names winning, as wandb's assign_type."""
    def sets(x: dict[str, set[Any]], y: dict[str, set[Any]]) -> dict[str, set[Any]]:
        return {k: x.get(k, set()) | y.get(k, set()) for k in x.keys() | y.keys()}

    def maps(x: dict[str, dict[str, str]], y: dict[str, dict[str, str]]
             ) -> dict[str, dict[str, str]]:
        return {k: {**y.get(k, {}), **x.get(k, {})} for k in x.keys() | y.keys()}

    return {"box_layers": sets(a["box_layers"], b["box_layers"]),
            "box_score_keys": a["box_score_keys"] | b["box_score_keys"],
            "mask_layers": sets(a["mask_layers"], b["mask_layers"]),
            "box_class_maps": maps(a["box_class_maps"], b["box_class_maps"]),
            "mask_class_maps": maps(a["mask_class_maps"], b["mask_class_maps"]),
            "class_map": {**b["class_map"], **a["class_map"]}}


class ImageType(MediaType):
    """Images; with wandb's params (box and mask layers, score keys, class maps) once
    an image of the column has boxes, masks or classes. Each image merges its layers
    into the column's (never refused), so there is no fast path for images."""

    def __init__(self, layers: dict[str, Any] | None = None) -> None:
        super().__init__("image")
        self.layers = layers if layers is not None else {
            "box_layers": {}, "box_score_keys": set(), "mask_layers": {},
            "box_class_maps": {}, "mask_class_maps": {}, "class_map": {}}

    @classmethod
    def of(cls, image: Any) -> ImageType:
        return cls(_image_layers(image))

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ImageType:
        empty = cls().layers
        layers = {}
        for name in _LAYER_PARAMS:
            value = params.get(name, empty[name])
            if name in ("box_layers", "mask_layers"):
                value = {str(k): set(v) for k, v in dict(value).items()}
            elif name == "box_score_keys":
                value = set(value)
            layers[name] = value
        return cls(layers)

    def assign(self, value: Any) -> DType | None:
        if not (isinstance(value, Media) and value._kind == "image"):
            return None
        other = _image_layers(value)
        if not any(other.values()):
            return self
        merged = _merge_layers(self.layers, other)
        return self if merged == self.layers else ImageType(merged)

    @property
    def fast_types(self) -> frozenset[type]:
        return frozenset()

    def params(self) -> dict[str, Any] | None:
        if not any(self.layers.values()):
            return None
        layers = self.layers
        return {
            "box_layers": {k: sorted(v, key=str) for k, v in sorted(layers["box_layers"].items())},
            "box_score_keys": sorted(layers["box_score_keys"]),
            "mask_layers": {k: sorted(v, key=str)
                            for k, v in sorted(layers["mask_layers"].items())},
            "box_class_maps": {k: dict(sorted(v.items()))
                               for k, v in sorted(layers["box_class_maps"].items())},
            "mask_class_maps": {k: dict(sorted(v.items()))
                                for k, v in sorted(layers["mask_class_maps"].items())},
            "class_map": dict(sorted(layers["class_map"].items()))}

    def to_plain(self) -> dict[str, Any]:
        params = self.params()
        plain: dict[str, Any] = {"wb_type": "image-file"}
        return plain if params is None else {**plain, "params": params}


def media_type(kind: str, value: Any = None) -> MediaType:
    """The column type of media of `kind` (of `value`, for an image's layers)."""
    if kind != "image":
        return MediaType(kind)
    return ImageType() if value is None else ImageType.of(value)


class PythonObjectType(DType):
    """Any other object, matched by its class name."""

    wb_type = "pythonObject"

    def __init__(self, class_name: str) -> None:
        self.class_name = class_name

    def assign(self, value: Any) -> DType | None:
        return self if type(value).__name__ == self.class_name else None

    def params(self) -> dict[str, Any]:
        return {"class_name": self.class_name}

    def describe(self) -> str:
        return f"object of class {self.class_name}"


class ConstType(DType):
    """Exactly one value (a `dtype` given as a plain value)."""

    wb_type = "const"

    def __init__(self, value: Any) -> None:
        self.value = value

    def assign(self, value: Any) -> DType | None:
        try:
            return self if bool(value == self.value) else None
        except (ValueError, TypeError):
            return None

    def params(self) -> dict[str, Any]:
        return {"val": self.value if isinstance(self.value, int | float | str | bool)
                else repr(self.value)}

    def describe(self) -> str:
        return f"the constant {self.value!r}"


class TableCellType(DType):
    """A Table as a cell value; once seen, later tables must have the same columns, each
    with values of a compatible type (as in wandb: a column of numbers then takes no
    strings; one that held only None takes its first type then)."""

    wb_type = "table"

    def __init__(self, columns: Sequence[Any] | None = None,
                 column_types: Sequence[DType] | None = None) -> None:
        self.columns = None if columns is None else list(columns)
        self.column_types = None if column_types is None else tuple(column_types)

    @classmethod
    def of(cls, table: Any) -> TableCellType:
        """The type a column takes from its first table cell."""
        return cls(table.columns, getattr(table, "_types", None))

    def assign(self, value: Any) -> DType | None:
        if getattr(type(value), "_log_type", None) != "table":
            return None
        if self.columns is None:
            return TableCellType.of(value)
        if list(value.columns) != self.columns:
            return None
        if self.column_types is None:
            return self
        refined = []
        for j, dtype in enumerate(self.column_types):
            new, failed = check_column(dtype, [row[j] for row in value.data])
            if failed is not None:
                return None
            refined.append(new)
        if all(a is b for a, b in zip(refined, self.column_types, strict=True)):
            return self
        return TableCellType(self.columns, refined)

    def params(self) -> dict[str, Any] | None:
        if self.columns is None:
            return None
        if self.column_types is None:
            return {"columns": self.columns}
        return {"columns": self.columns,
                "column_types": [t.to_plain() for t in self.column_types]}

    def describe(self) -> str:
        return "Table" if self.columns is None else f"Table with columns {self.columns}"


class ListType(DType):
    """A list, tuple or set whose elements all fit one element type (None elements too)."""

    wb_type = "list"

    def __init__(self, element: DType | None = None) -> None:
        self.element = element if element is not None else UNKNOWN

    def assign(self, value: Any) -> DType | None:
        if isinstance(value, np.ndarray) and value.ndim >= 1:
            value = value.tolist()  # an array fits a list column of its shape (as in wandb)
        elif not isinstance(value, SEQUENCE_CLASSES):
            return None
        element = self.element
        for item in value:
            new = element.assign(item)
            if new is None:
                if not is_missing(item):
                    return None
                new = optional(element)
            element = new
        return self if element is self.element else ListType(element)

    def params(self) -> dict[str, Any]:
        return {"element_type": self.element.to_plain()}

    def describe(self) -> str:
        return f"list of {self.element.describe()}"


class DictType(DType):
    """A dict whose key set is fixed by the first value; each key has its own type.

    A later dict may leave out a key only if that key's type admits None; a key
    whose first value was None may take any one type afterwards.
    """

    wb_type = "typedDict"

    def __init__(self, fields: Mapping[Any, DType]) -> None:
        self.fields = dict(fields)

    @classmethod
    def of(cls, value: Mapping[Any, Any]) -> DictType:
        return cls({k: OPTIONAL_UNKNOWN if is_missing(v) else type_of(v)
                    for k, v in value.items()})

    def assign(self, value: Any) -> DType | None:
        if not isinstance(value, dict):
            return None
        if not self.fields and value:  # declared as plain `dict`: the first value decides
            return DictType.of(value)
        fields = self.fields
        changed: dict[Any, DType] = {}
        for key, field_type in fields.items():
            item = value.get(key)  # a missing key counts as None
            new = field_type.assign(item)
            if new is None:
                return None
            if new is not field_type:
                changed[key] = new
        if any(key not in fields for key in value):
            return None
        return DictType({**fields, **changed}) if changed else self

    def params(self) -> dict[str, Any]:
        return {"type_map": {k: t.to_plain() for k, t in self.fields.items()}}

    def describe(self) -> str:
        inner = ", ".join(f"{k!r}: {t.describe()}" for k, t in self.fields.items())
        return "{" + inner + "}"


class NDArrayType(DType):
    """A numpy array of one fixed shape (a nested list of that shape is accepted)."""

    wb_type = "ndarray"

    def __init__(self, shape: Sequence[int] | None = None) -> None:
        self.shape = None if shape is None else tuple(int(n) for n in shape)

    def assign(self, value: Any) -> DType | None:
        if isinstance(value, np.ndarray):
            shape: tuple[int, ...] = value.shape
        elif isinstance(value, list | tuple):
            try:
                shape = np.shape(value)
            except ValueError:  # ragged
                return None
        else:
            return None
        if self.shape is None:
            return NDArrayType(shape)
        return self if shape == self.shape else None

    def params(self) -> dict[str, Any]:
        return {"shape": None if self.shape is None else list(self.shape)}

    def describe(self) -> str:
        return "ndarray" if self.shape is None else f"ndarray of shape {self.shape}"


UNKNOWN = UnknownType()
OPTIONAL_UNKNOWN = UnionType([UNKNOWN, NONE])


_EXACT: dict[type, DType] = {
    **{cls: NUMBER for cls in INT_CLASSES | FLOAT_CLASSES | COMPLEX_CLASSES},
    **{cls: BOOLEAN for cls in BOOL_CLASSES},
    str: STRING, _dt.datetime: TIMESTAMP, _dt.date: TIMESTAMP, np.datetime64: TIMESTAMP,
}


def type_of(value: Any) -> DType:
    """The type a column takes when `value` is its first non-missing value."""
    if is_missing(value):
        return NONE
    exact = _EXACT.get(type(value))
    if exact is not None:
        return exact
    table = getattr(value, "_table", None)
    if table is not None:  # cells taken from another table link to it
        if isinstance(value, str):
            return ForeignKeyType(table, getattr(value, "_col_name", None))
        if isinstance(value, int):
            return ForeignIndexType(table)
    for simple in (BOOLEAN, NUMBER, STRING, TIMESTAMP):
        if simple.accepts(value):
            return simple
    if isinstance(value, Media):
        return media_type(value._kind, value)
    if isinstance(value, np.ndarray):
        return NDArrayType(value.shape)
    if isinstance(value, SEQUENCE_CLASSES):
        return ListType().assign(value) or PythonObjectType(type(value).__name__)
    if isinstance(value, dict):
        return DictType.of(value)
    if getattr(type(value), "_log_type", None) == "table":
        return TableCellType.of(value)
    return PythonObjectType(type(value).__name__)


def check_column(dtype: DType, values: Sequence[Any]) -> tuple[DType, int | None]:
    """Check `values` in order against a column of type `dtype`.

    Returns the column's resulting type and the index of the first value that
    does not fit (None if all fit). When every value's class is in the type's
    fast set this is one set comparison; otherwise values outside the fast set
    go through `assign` one by one, and after each refinement (e.g. Unknown ->
    Number) the set comparison is tried again.
    """
    kinds = set(map(type, values))
    fast = dtype.fast_types
    if kinds <= fast:
        return dtype, None
    for i, value in enumerate(values):
        if type(value) in fast:
            continue
        new = dtype.assign(value)
        if new is None:
            return dtype, i
        if new is not dtype:
            dtype, fast = new, new.fast_types
            if kinds <= fast:  # every class seen is now fine as is
                return dtype, None
    return dtype, None
