"""Grafana: the shipped dashboards, the provisioning files that load them, and checks of both.

Grafana is not packaged for Debian 12, so redisops does not run it: it writes
what a Grafana you run (or a Compose project) loads at start::

    DEST/provisioning/datasources/redisops.yaml   the Prometheus datasource, uid ``redisops-prometheus``
    DEST/provisioning/dashboards/redisops.yaml    a file provider reading DEST/dashboards (or dashboards_dir)
    DEST/dashboards/*.json                        overview, sentinel, cluster, node

The dashboards name the datasource by its fixed uid, never through an
``__inputs`` / ``${DS_PROMETHEUS}`` placeholder: Grafana substitutes those only
when a user imports a dashboard by hand, and a provisioned one fails with
"Datasource named ${DS_PROMETHEUS} was not found" (grafana/grafana#10786).

Two checks stand in for Grafana itself: :func:`check_dashboard` holds a model to
what Grafana's dashboard schema requires (unique panel ids, ``gridPos`` inside
24 columns, schemaVersion ≥ 36, known panel types, datasource uids that the
provisioning file defines), and :func:`check_queries` runs every panel query,
template variables filled in with the values Prometheus has, against a live
Prometheus and names each one that returns no series.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from itertools import product
from pathlib import Path
from typing import Any

import httpx
import yaml

from redisops.errors import InputError, RedisopsError
from redisops.spec.secrets import write_private

__all__ = [
    "DATASOURCE_UID",
    "DashboardError",
    "GrafanaFiles",
    "LOKI_DATASOURCE_UID",
    "PanelQuery",
    "QueryCheck",
    "check_dashboard",
    "check_queries",
    "dashboard_files",
    "datasource_provisioning",
    "grafana_files",
    "load_dashboard",
    "panel_queries",
    "provider_provisioning",
    "substitute",
    "write_grafana_provisioning",
]

#: the provisioned Prometheus datasource's uid, which every shipped panel and variable names
DATASOURCE_UID = "redisops-prometheus"
DATASOURCE_NAME = "redisops Prometheus"
#: the Loki datasource a Compose project with monitoring provisions beside it (the nodes' logs)
LOKI_DATASOURCE_UID = "redisops-loki"
LOKI_DATASOURCE_NAME = "redisops Loki"
#: Grafana 9.0's schema (panels with ``fieldConfig`` and ``datasource`` objects); older ones are Angular-era
MIN_SCHEMA_VERSION = 36
PANEL_TYPES = frozenset({"timeseries", "stat", "table", "row", "text"})
VARIABLE_TYPES = frozenset({"query", "adhoc", "constant", "datasource", "interval", "textbox", "custom", "system"})
GRID_COLUMNS = 24


class DashboardError(InputError):
    """A dashboard file that is not JSON, or whose model Grafana would reject: every problem in one line."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"dashboard {source}: {problems[0]}{more}",
                         hint="fix the dashboard JSON (see docs/monitor.md, Grafana dashboards)")


# --- the shipped dashboards ---------------------------------------------------------------------------------
def dashboard_files() -> list[Path]:
    """The shipped dashboards (``redisops/observe/dashboards/*.json``), sorted by name."""
    root = resources.files("redisops.observe") / "dashboards"
    return sorted(Path(str(entry)) for entry in root.iterdir() if entry.name.endswith(".json"))


def load_dashboard(path: Path) -> dict[str, Any]:
    """A dashboard model from a JSON file; :class:`DashboardError` when it is not a JSON object."""
    try:
        model = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DashboardError(str(path), [f"cannot read it as JSON ({exc})"]) from exc
    if not isinstance(model, dict):
        raise DashboardError(str(path), ["not a JSON object"])
    return model


# --- the model check ---------------------------------------------------------------------------------------
def _all_panels(model: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those folded into collapsed rows included."""
    for panel in model.get("panels") or []:
        if isinstance(panel, dict):
            yield panel
            yield from (p for p in panel.get("panels") or [] if isinstance(p, dict))


def _datasource_uids(value: Any) -> Iterator[str]:
    """Every ``datasource`` reference's uid anywhere in ``value`` (a string reference is a name: yielded as is)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "datasource" and isinstance(item, dict) and item.get("type") != "grafana":
                yield str(item.get("uid", ""))
            elif key == "datasource" and isinstance(item, str):
                yield item
            else:
                yield from _datasource_uids(item)
    elif isinstance(value, list):
        for item in value:
            yield from _datasource_uids(item)


def _grid_problems(name: str, grid: Any) -> list[str]:
    if not isinstance(grid, dict) or not all(isinstance(grid.get(k), int) for k in ("h", "w", "x", "y")):
        return [f"{name}: gridPos needs integer h, w, x, y"]
    h, w, x, y = grid["h"], grid["w"], grid["x"], grid["y"]
    problems = []
    if h <= 0:
        problems.append(f"{name}: gridPos.h {h} is not above 0")
    if not 0 < w <= GRID_COLUMNS:
        problems.append(f"{name}: gridPos.w {w} is not within 1..{GRID_COLUMNS}")
    if not 0 <= x < GRID_COLUMNS or x + w > GRID_COLUMNS:
        problems.append(f"{name}: gridPos x {x} + w {w} exceeds {GRID_COLUMNS} columns")
    if y < 0:
        problems.append(f"{name}: gridPos.y {y} is negative")
    return problems


def _panel_problems(panel: dict[str, Any], seen: set[Any]) -> list[str]:
    name = f"panel {panel.get('id')!r} ({panel.get('title', '')!r})"
    problems = []
    if not isinstance(panel.get("id"), int):
        problems.append(f"{name}: id must be an integer")
    elif panel["id"] in seen:
        problems.append(f"{name}: id {panel['id']} is used twice")
    seen.add(panel.get("id"))
    if panel.get("type") not in PANEL_TYPES:
        problems.append(f"{name}: type {panel.get('type')!r} is not one of {', '.join(sorted(PANEL_TYPES))}")
    problems += _grid_problems(name, panel.get("gridPos"))
    if panel.get("type") in ("row", "text"):
        return problems
    targets = panel.get("targets")
    if not isinstance(targets, list) or not targets:
        return [*problems, f"{name}: no targets"]
    ref_ids = [t.get("refId") for t in targets if isinstance(t, dict)]
    if len(ref_ids) != len(targets) or not all(isinstance(r, str) and r for r in ref_ids):
        problems.append(f"{name}: every target needs a refId")
    elif len(set(ref_ids)) != len(ref_ids):
        problems.append(f"{name}: refIds repeat ({', '.join(str(r) for r in ref_ids)})")
    if not all(isinstance(t, dict) and isinstance(t.get("expr"), str) and t["expr"].strip() for t in targets):
        problems.append(f"{name}: every target needs a PromQL expr")
    return problems


def check_dashboard(model: Mapping[str, Any], datasource_uids: Sequence[str] = (DATASOURCE_UID,)) -> list[str]:
    """What Grafana's dashboard model (schemaVersion ≥ 36, as provisioned from a file) would reject or
    mis-render; ``[]`` when none.  ``datasource_uids``: the uids the provisioning file defines."""
    problems = []
    uid = model.get("uid")
    if not isinstance(uid, str) or not 1 <= len(uid) <= 40:
        problems.append(f"uid {uid!r} is not a string of 1 to 40 characters")
    if not isinstance(model.get("title"), str) or not model["title"].strip():
        problems.append("no title")
    schema = model.get("schemaVersion")
    if not isinstance(schema, int) or schema < MIN_SCHEMA_VERSION:
        problems.append(f"schemaVersion {schema!r} is below {MIN_SCHEMA_VERSION}")
    text = json.dumps(model)
    if "${DS_" in text or "__inputs" in model:
        problems.append("uses an import-time input (__inputs / ${DS_...}), which a provisioned dashboard "
                        "cannot resolve: name the datasource by its uid")
    seen: set[Any] = set()
    panels = list(_all_panels(model))
    if not panels:
        problems.append("no panels")
    for panel in panels:
        problems += _panel_problems(panel, seen)
    variables = (model.get("templating") or {}).get("list") or []
    for variable in variables:
        if variable.get("type") not in VARIABLE_TYPES:
            problems.append(f"variable {variable.get('name')!r}: type {variable.get('type')!r} is not one of "
                            f"{', '.join(sorted(VARIABLE_TYPES))}")
    for ref in sorted(set(_datasource_uids(model))):
        if ref not in datasource_uids:
            problems.append(f"datasource uid {ref!r} is not provisioned (known: {', '.join(datasource_uids)})")
    return problems


# --- provisioning ------------------------------------------------------------------------------------------
def datasource_provisioning(prometheus_url: str, *, scrape_interval_s: float = 15.0,
                            loki_url: str | None = None) -> dict[str, Any]:
    """provisioning/datasources/*.yaml: the Prometheus every dashboard reads, by its fixed uid, and the Loki
    holding the nodes' logs when there is one (a Compose project: Explore, ``{node="mymaster-0"}``).

    ``timeInterval`` is the scrape interval, so ``$__rate_interval`` is never shorter than 4 scrapes."""
    sources: list[dict[str, Any]] = [{
        "name": DATASOURCE_NAME, "uid": DATASOURCE_UID, "type": "prometheus", "access": "proxy",
        "url": prometheus_url, "isDefault": True, "editable": False,
        "jsonData": {"timeInterval": f"{scrape_interval_s:g}s", "httpMethod": "POST"},
    }]
    if loki_url:
        sources.append({"name": LOKI_DATASOURCE_NAME, "uid": LOKI_DATASOURCE_UID, "type": "loki", "access": "proxy",
                        "url": loki_url, "isDefault": False, "editable": False, "jsonData": {"maxLines": 1000}})
    return {"apiVersion": 1, "datasources": sources}


def provider_provisioning(dashboards_dir: str) -> dict[str, Any]:
    """provisioning/dashboards/*.yaml: a file provider for ``dashboards_dir`` (as Grafana sees that path)."""
    return {"apiVersion": 1, "providers": [{
        "name": "redisops", "orgId": 1, "folder": "redisops", "folderUid": "redisops", "type": "file",
        "disableDeletion": False, "allowUiUpdates": False, "updateIntervalSeconds": 30,
        "options": {"path": dashboards_dir, "foldersFromFilesStructure": False},
    }]}


@dataclass(frozen=True)
class GrafanaFiles:
    """What :func:`write_grafana_provisioning` wrote."""

    directory: Path
    datasources: Path
    provider: Path
    dashboards: list[Path] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"directory": str(self.directory), "datasource_uid": DATASOURCE_UID,
                "datasources": str(self.datasources), "provider": str(self.provider),
                "dashboards": [str(p) for p in self.dashboards]}


def write_grafana_provisioning(dest: Path, prometheus_url: str, *, scrape_interval_s: float = 15.0,
                               dashboards_dir: str | None = None, extra: Sequence[Path] = ()) -> GrafanaFiles:
    """Write the datasource and dashboard provisioning YAML and the dashboards (shipped + ``extra``) under
    ``dest``.  ``dashboards_dir``: where Grafana will see ``dest/dashboards`` (a container path), default
    that directory itself.  Every dashboard is checked first: :class:`DashboardError` and nothing written
    when one is broken."""
    dest = dest.resolve()
    files = grafana_files(prometheus_url, scrape_interval_s=scrape_interval_s,
                          dashboards_dir=dashboards_dir or str(dest / "dashboards"), extra=extra)
    for rel, text in files.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        write_private(dest / rel, text, mode=0o644)
    return GrafanaFiles(dest, dest / DATASOURCES_FILE, dest / PROVIDER_FILE,
                        [dest / rel for rel in files if rel.startswith("dashboards/")])


#: where the provisioning files go, relative to the directory Grafana's provisioning and dashboards live in
DATASOURCES_FILE = "provisioning/datasources/redisops.yaml"
PROVIDER_FILE = "provisioning/dashboards/redisops.yaml"


def grafana_files(prometheus_url: str, *, dashboards_dir: str, scrape_interval_s: float = 15.0,
                  loki_url: str | None = None, extra: Sequence[Path] = ()) -> dict[str, str]:
    """Relative path -> text of everything :func:`write_grafana_provisioning` writes (a Compose render takes the
    texts as they are).  Every dashboard is checked first: :class:`DashboardError` when one is broken."""
    models = {path.name: load_dashboard(path) for path in [*dashboard_files(), *extra]}
    known = (DATASOURCE_UID, LOKI_DATASOURCE_UID) if loki_url else (DATASOURCE_UID,)
    for name, model in models.items():
        problems = check_dashboard(model, known)
        if problems:
            raise DashboardError(name, problems)
    uids = [str(m["uid"]) for m in models.values()]
    if len(set(uids)) != len(uids):
        raise DashboardError(", ".join(models), [f"two dashboards share a uid ({', '.join(sorted(uids))})"])
    files = {
        DATASOURCES_FILE: _yaml(datasource_provisioning(prometheus_url, scrape_interval_s=scrape_interval_s,
                                                        loki_url=loki_url)),
        PROVIDER_FILE: _yaml(provider_provisioning(dashboards_dir)),
    }
    for name, model in models.items():
        files[f"dashboards/{name}"] = json.dumps(model, indent=2, ensure_ascii=False) + "\n"
    return files


def _yaml(data: dict[str, Any]) -> str:
    return "# generated by redisops (redisops monitor grafana); edits are overwritten\n" + \
        yaml.safe_dump(data, sort_keys=False)


# --- the queries -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PanelQuery:
    """One panel target's PromQL, as written (template variables unresolved)."""

    dashboard: str  # title
    panel_id: int
    panel: str  # title
    ref_id: str
    expr: str
    instant: bool

    def where(self) -> str:
        return f"{self.dashboard} / {self.panel} (panel {self.panel_id}, query {self.ref_id})"


def panel_queries(model: Mapping[str, Any]) -> list[PanelQuery]:
    """Every Prometheus query of every panel (rows and text panels have none)."""
    out = []
    for panel in _all_panels(model):
        for target in panel.get("targets") or []:
            if isinstance(target, dict) and isinstance(target.get("expr"), str):
                instant = bool(target.get("instant")) and not target.get("range")
                out.append(PanelQuery(str(model.get("title", "")), int(panel.get("id", 0)),
                                      str(panel.get("title", "")), str(target.get("refId", "")), target["expr"],
                                      instant))
    return out


_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(?P<match>.+?)\s*,\s*)?(?P<label>[a-zA-Z_]\w*)\s*\)\s*$")


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """``expr`` with Grafana's ``$name`` / ``${name}`` / ``[[name]]`` replaced from ``values`` (the built-in
    ``__rate_interval``, ``__interval``, ``__range`` included, longest names first)."""
    for name in sorted(values, key=len, reverse=True):
        for form in (f"${{{name}}}", f"[[{name}]]", f"${name}"):
            expr = expr.replace(form, values[name])
    return expr


def _regex_value(values: Sequence[str]) -> str:
    """A multi-value / All selection the way Grafana writes it for Prometheus: escaped alternatives."""
    escaped = [re.escape(v).replace("\\", "\\\\") for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


@dataclass
class QueryCheck:
    """What :func:`check_queries` ran and what returned nothing (one line each)."""

    queries: int = 0
    empty: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"queries": self.queries, "empty": self.empty}


class _Prometheus:
    def __init__(self, url: str, client: httpx.Client) -> None:
        self.url = url.rstrip("/")
        self.client = client

    def get(self, path: str, params: Mapping[str, Any]) -> Any:
        try:
            response = self.client.get(self.url + path, params=params)
        except httpx.HTTPError as exc:
            raise RedisopsError(f"Prometheus at {self.url} did not answer ({type(exc).__name__})",
                                hint="start it with `redisops monitor up`") from exc
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        if response.status_code == 400 and body.get("error"):
            raise ValueError(body["error"])  # the query itself is bad: a finding, not an outage
        if response.status_code != 200 or body.get("status") != "success":
            raise RedisopsError(f"Prometheus at {self.url} answered {response.status_code} to {path}",
                                hint="check `redisops monitor status`")
        return body["data"]


def _variable_values(prom: _Prometheus, variable: Mapping[str, Any], start: float, end: float) -> list[str]:
    query = variable.get("query")
    query = query.get("query", "") if isinstance(query, dict) else str(query or "")
    found = _LABEL_VALUES.match(query)
    if found is None:
        raise ValueError(f"only label_values(...) queries can be resolved, not {query!r}")
    label, match = found["label"], found["match"]
    params: dict[str, Any] = {"start": start, "end": end}
    if match:
        series = prom.get("/api/v1/series", {**params, "match[]": match})
        return sorted({s[label] for s in series if label in s})
    return sorted(str(v) for v in prom.get(f"/api/v1/label/{label}/values", params))


def _selections(prom: _Prometheus, model: Mapping[str, Any], start: float, end: float,
                out: QueryCheck) -> list[dict[str, str]]:
    """Every combination of variable values to check: a multi / All variable as one selection of all its
    values, a single-value one value by value (each node of a node dashboard)."""
    choices: dict[str, list[str]] = {}
    for variable in (model.get("templating") or {}).get("list") or []:
        if variable.get("type") != "query":
            continue
        name = str(variable.get("name", ""))
        try:
            values = _variable_values(prom, variable, start, end)
        except ValueError as exc:
            out.empty.append(f"{model.get('title')}: variable ${name}: {exc}")
            return []
        if not values:
            out.empty.append(f"{model.get('title')}: variable ${name} has no values: {variable.get('query')}")
            return []
        multi = variable.get("multi") or variable.get("includeAll")
        choices[name] = [_regex_value(values)] if multi else values
    return [dict(zip(choices, combo, strict=True)) for combo in product(*choices.values())]


def check_queries(prometheus_url: str, models: Sequence[Mapping[str, Any]], *, window_s: float = 300.0,
                  scrape_interval_s: float = 15.0, client: httpx.Client | None = None,
                  now: float | None = None) -> QueryCheck:
    """Run every panel query of ``models`` against Prometheus over the last ``window_s`` seconds, variables
    filled in as Grafana would (``$__rate_interval`` = 4 scrapes, ``$__range`` = the window); every query
    that returns no series (or that Prometheus rejects) is one line in :attr:`QueryCheck.empty`, naming the
    dashboard, the panel, the variable values and the expression."""
    end = time.time() if now is None else now
    start = end - window_s
    step = max(scrape_interval_s, window_s / 200)
    builtins = {"__rate_interval": f"{max(4 * scrape_interval_s, step + scrape_interval_s):g}s",
                "__interval": f"{step:g}s", "__range": f"{window_s:g}s", "__range_s": f"{window_s:g}"}
    out = QueryCheck()
    own = client is None
    prom = _Prometheus(prometheus_url, client or httpx.Client(timeout=10.0))
    try:
        _run_queries(prom, models, start, end, step, builtins, out)
    finally:
        if own:
            prom.client.close()
    return out


def _run_queries(prom: _Prometheus, models: Sequence[Mapping[str, Any]], start: float, end: float, step: float,
                 builtins: Mapping[str, str], out: QueryCheck) -> None:
    for model in models:
        for selection in _selections(prom, model, start, end, out):
            for query in panel_queries(model):
                expr = substitute(query.expr, {**builtins, **selection})
                out.queries += 1
                shown = ", ".join(f"${k}={v}" for k, v in selection.items())
                try:
                    if query.instant:
                        data = prom.get("/api/v1/query", {"query": expr, "time": end})
                    else:
                        data = prom.get("/api/v1/query_range", {"query": expr, "start": start, "end": end,
                                                                 "step": step})
                except ValueError as exc:
                    out.empty.append(f"{query.where()}: Prometheus rejects {expr!r}: {exc}")
                    continue
                if not data.get("result"):
                    out.empty.append(f"{query.where()} returned no series{f' for {shown}' if shown else ''}: "
                                     f"{expr}")
