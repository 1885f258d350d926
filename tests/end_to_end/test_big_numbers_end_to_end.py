"""Big numbers through the whole path: the SDK logs integers past 2**64, NaN,
infinities and ``time.time_ns()`` steps, ``tablelog sync`` delivers them to a real
server, `tablelog.Api` reads them back exactly, and the viewer's pages render."""

from __future__ import annotations

import math
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

import tablelog as wandb
from tests.conftest import API_KEY, ServerProcess
from tests.end_to_end.conftest import sync_queue

VALUES: dict[str, Any] = {"int53": 2**53 + 1, "u64": 2**64, "neg70": -(2**70),
                          "huge": 2**1100, "max": 1e308, "negmax": -1e308, "inf": math.inf,
                          "ninf": -math.inf, "nan": math.nan}




def _page(server: ServerProcess, path: str) -> str:
    req = urllib.request.Request(server.url + path, headers={
        "Authorization": f"Bearer {API_KEY}", "Accept": "text/html"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200
        return str(resp.read().decode())


def test_big_numbers_from_the_sdk_read_back_and_render(online: Path,
                                                      live_server: ServerProcess,
                                                      tmp_path: Path) -> None:
    start = time.time_ns()
    steps = [start, start + 1, start + 2]
    with wandb.init(project="proj", config=VALUES) as run:
        table = wandb.Table(columns=["k", "v"], data=[[k, v] for k, v in VALUES.items()])
        run.log({"t": table}, step=0)
        for i, step in enumerate(steps):
            run.log({"loss": [1e308, -1e308, 2**70][i], "count": 2**64 + i}, step=step)
        run.summary.update(VALUES)
    sync_queue(online, live_server)
    api = wandb.Api(base_url=live_server.url, api_key=API_KEY, cache_dir=tmp_path / "cache")
    logged = api.run(f"proj/{run.id}")
    finite = {k: v for k, v in VALUES.items() if not isinstance(v, float) or math.isfinite(v)}
    assert {k: logged.config[k] for k in finite} == finite
    assert {k: logged.summary[k] for k in finite} == finite
    history = logged.history(pandas=False)
    assert [h["_step"] for h in history] == [0, *steps]
    assert [h["count"] for h in history[1:]] == [2**64, 2**64 + 1, 2**64 + 2]
    got = api.artifact(f"local/proj/run-{run.id}-t:latest").get("t")
    assert [r[1] for r in got.data[:4]] == [2**53 + 1, 2**64, -(2**70), 2**1100]

    page = _page(live_server, f"/p/local/proj/runs/{run.id}")
    assert page.count("<polyline") == 2  # loss and count, at time.time_ns() steps
    assert f"at step {start + 2}" in page and "18446744073709551616" in page
    assert "NaN" in page and "-∞" in page and "1.3583e+331" in page
    table_page = _page(live_server, f"/p/local/proj/tables/run-{run.id}-t/v0/t?sort=v")
    assert re.search(r"-1e\+308.*1e\+308.*1\.3583e\+331.*∞.*NaN", table_page, re.DOTALL)
