"""Write the rendered log and its plots to files, and publish the log beside a `gs://` history.

Rendering (`markdown`, `plots`) knows nothing of files or buckets; this module reads the configured
history, renders it and writes the results whole (`write_atomic`), so a reader never sees half a log.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunebench.report.history_view import History
from tunebench.report.markdown import RENDER_COMMAND, render_log
from tunebench.report.plots import render_plots
from tunebench.storage.local import check_target, write_atomic

if TYPE_CHECKING:
    from tunebench.config import Config

__all__ = ["render_log_file", "publish_remote_log"]


def render_log_file(
    config: Config, out: Path | str | None = None, *, command: str = RENDER_COMMAND, with_plots: bool = True
) -> Path:
    """Render the history of `config` to `out` (default: the configured log) with its plots; return the path.

    With a `gs://` history the log is also published beside it (`<history>/<log name>`), see
    `publish_remote_log`, so CI jobs on several machines share one log that lists every run.
    """
    target = Path(out) if out is not None else Path(config.log)
    check_target(target)  # before reading and rendering: a device or folder there is refused, plots unwritten
    if config.history_uri.startswith("gs://"):
        # The shared log's last render read the history after the object it replaced: reuse those records.
        records = publish_remote_log(config, command=command, log_name=target.name)[1]
    else:
        records = _read_history(config)
    history = History.of(records)  # one view of each record for the plots and the log
    plots = {}
    if with_plots:
        plots = render_plots(history, target.parent / f"{target.stem}_plots", relative_to=target.parent)
    text = _render_config_history(config, history, command, plots, _run_reports(target.parent))
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, text.encode("utf-8"))
    return target


def publish_remote_log(
    config: Config, *, command: str = RENDER_COMMAND, log_name: str | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """Replace the log object beside a `gs://` history with a fresh render; return its URI and the records.

    The write is conditional on the generation read (`publish_text_replacing`) and the history is read
    again on every attempt, after the object was read, so concurrent CI jobs never drop a run. The
    remote log has no plots: its PNGs stay with the local copy.
    """
    from tunebench.storage import publish_text_replacing

    uri = f"{config.history_uri.rstrip('/')}/{log_name or Path(config.log).name}"
    read: list[list[dict[str, Any]]] = []

    def render(_current: str | None) -> str:
        read.append(_read_history(config))
        return _render_config_history(config, read[-1], command, {})

    publish_text_replacing(uri, render)
    return uri, read[-1]


def _read_history(config: Config) -> list[dict[str, Any]]:
    from tunebench.history.store import open_store

    result = open_store(config.history_uri).read_all()
    for problem in result.problems:
        print(f"tunebench: warning: history record skipped: {problem}", file=sys.stderr)
    return result.records


def _render_config_history(
    config: Config,
    records: list[dict[str, Any]] | History,
    command: str,
    plots: dict[str, Any],
    reports: dict[str, Any] | None = None,
) -> str:
    from tunebench.registry import Registry

    status = {entry.name: entry.status for entry in Registry(config).entries()}
    return render_log(
        records,
        command=command,
        history_location=config.history,
        plots=plots,
        registry_status=status,
        reports=reports,
    )


def _run_reports(folder: Path) -> dict[str, str]:
    """Return {run id: page path relative to the log} for the HTML run reports written beside the log."""
    from tunebench.report.html import REPORTS_FOLDER

    pages = sorted((folder / REPORTS_FOLDER).glob("*.html"))
    return {page.stem: f"{REPORTS_FOLDER}/{page.name}" for page in pages}
