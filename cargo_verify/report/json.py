"""`--format json`: the design §3.4 object, one JSON document per run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cargo_verify.model import Report


class JsonReporter:
    """Renders `Report.to_json()` with a fixed key order, indent 2 and a trailing newline."""

    def __init__(self, *, root: Path | None = None) -> None:
        # `root` is accepted so every machine format takes the same options; JSON keeps
        # the lockfile path exactly as the caller gave it.
        self.root = root

    def render(self, report: Report) -> str:
        document: dict[str, Any] = report.to_json()
        if report.infra_errors:
            # Failures that prevented any verdict would otherwise leave no trace in the JSON.
            document["infra_errors"] = list(report.infra_errors)
        return json.dumps(document, indent=2) + "\n"
