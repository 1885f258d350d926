"""A chart logged with `run.log`: a Table plus the description of how to draw it.

As wandb 0.31 (``wandb.plot.custom_chart``): `plot_table(spec_name, table, fields,
string_fields)` makes a `CustomChart`; ``run.log({"key": chart})`` stores the table
as the run table ``key_table`` (``Custom Chart Tables/key_table`` with
``split_table=True``) at that step, and the chart's description in the run's config
under ``_wandb.visualize.key`` (``config_value``), which is how the viewer finds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tablelog.errors import TablelogError

PRESETS = ("wandb/line/v0", "wandb/scatter/v0", "wandb/bar/v0", "wandb/histogram/v0",
           "wandb/confusion_matrix/v1", "wandb/area-under-curve/v0", "wandb/lineseries/v0")
"""The chart ids the viewer draws; any other spec name is recorded as given."""


@dataclass
class CustomChartSpec:
    """What to draw: the spec id, its field -> column mapping, its string settings."""

    spec_name: str
    fields: dict[str, Any]
    string_fields: dict[str, Any]
    key: str = ""
    panel_type: str = "Vega2"
    split_table: bool = False

    @property
    def table_key(self) -> str:
        if not self.key:
            raise TablelogError("Key for the custom chart spec is not set.")
        if self.split_table:
            return f"Custom Chart Tables/{self.key}_table"
        return f"{self.key}_table"

    @property
    def config_value(self) -> dict[str, Any]:
        """The chart's entry in the run config, in wandb's shape (the parts a viewer
        reads: ``panelDefId``, ``fieldSettings``, ``stringSettings``, the table key)."""
        return {
            "panel_type": self.panel_type,
            "panel_config": {
                "panelDefId": self.spec_name,
                "fieldSettings": dict(self.fields),
                "stringSettings": dict(self.string_fields),
                "transform": {"name": "tableWithLeafColNames"},
                "userQuery": {"queryFields": [{
                    "name": "runSets",
                    "args": [{"name": "runSets", "value": "${runSets}"}],
                    "fields": [
                        {"name": "id", "fields": []},
                        {"name": "name", "fields": []},
                        {"name": "_defaultColorIndex", "fields": []},
                        {"name": "summaryTable",
                         "args": [{"name": "tableKey", "value": self.table_key}],
                         "fields": []}]}]},
            },
        }

    @property
    def config_key(self) -> tuple[str, str, str]:
        return ("_wandb", "visualize", self.key)


@dataclass
class CustomChart:
    """A table and its chart description (`wandb.plot.CustomChart`)."""

    table: Any
    spec: CustomChartSpec = field()

    def set_key(self, key: str) -> None:
        """Set the key the chart is logged under (run.log does it)."""
        self.spec.key = key


def plot_table(vega_spec_name: str, data_table: Any, fields: dict[str, Any],
               string_fields: dict[str, Any] | None = None,
               split_table: bool = False) -> CustomChart:
    """A chart of `data_table` drawn by the spec `vega_spec_name` (one of `PRESETS`, or
    any name, recorded as given), `fields` mapping the spec's fields to columns."""
    from tablelog.data_types.table import Table

    if not isinstance(data_table, Table):
        raise TablelogError(f"Expected `data_table` to be `wandb.Table` type, instead got "
                            f"{type(data_table).__name__}")
    return CustomChart(table=data_table, spec=CustomChartSpec(
        spec_name=vega_spec_name, fields=fields, string_fields=string_fields or {},
        split_table=split_table))
