"""`make eval`: an order for every person of tests/fixtures/people through the real local stack, and what each
order's quality report (GET /v1/orders/{id}/report) says of the result.

    python bench/quality/eval.py [--package basic] [--styles corporate-navy ...] [--gate on|auto]
                                 [--people DIR] [--json docs/benchmarks.json | --no-json] [--timeout-s 3600]

Each person's photos are uploaded as that order's selfies; the gateway checks them as it checks anyone's, and a
person with fewer accepted photos than the gateway's minimum is reported as skipped with the gateway's reason
(nothing is made up to fill the gap). Per person and over all orders the table shows: likeness (mean and 10th
percentile over the delivered headshots), the set's consistency, photo quality, the share of delivered headshots
at or above the likeness threshold (renderer.quality.MIN_LIKENESS), and images generated, rejected (by reason) and
delivered. The figures go to docs/benchmarks.json under `quality.eval.*` (merged: no other key is touched).

The stack runs with the quality gate on (`--gate on`, the default), so the report counts what the gate rejects;
`--gate auto` follows the base model's setting (off for the generated test model, as `make demo` runs). The
generated test model draws no faces: every image is rejected as `no_face`, nothing is delivered and the scores
are n/a, which the table says. With HEADSHOTS_BASE_MODEL set to a real model (and a GPU) the same command measures
that model (bench/quality/eval_gpu.py sets one up and adds the published figures of tuning-free methods).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from headshots_common.basemodel import is_generated_test_model
from headshots_tools import mailbox
from headshots_tools.demo import FINAL_STATES, ApiClient, sign_up_consumer
from headshots_tools.localstack import REPO_ROOT, Ports, Stack
from renderer.quality import MIN_LIKENESS

PEOPLE_DIR = REPO_ROOT / "tests" / "fixtures" / "people"
BENCHMARKS_JSON = REPO_ROOT / "docs" / "benchmarks.json"
CONFIG_NAME = "quality"  # the entry under "_configs", as bench/run.py keeps one per benchmark
FIGURE_PREFIX = "quality.eval."
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
DEFAULT_STYLES = ["corporate-navy", "creative-sage", "executive-black", "friendly-white"]
NO_FACE_NOTE = "no delivered image holds a face: the generated test model draws none; scores n/a"


@dataclass(frozen=True)
class Person:
    name: str
    photos: list[Path]


def load_people(root: Path = PEOPLE_DIR) -> list[Person]:
    people = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
        if photos:
            people.append(Person(folder.name, photos))
    return people


@dataclass
class Outcome:
    """One person's order: what the gateway made of the photos, and the order's report once final."""

    person: str
    photos: int
    accepted: int = 0
    photo_rejections: dict[str, int] = field(default_factory=dict)
    order_id: str = ""
    state: str = "skipped"
    skipped: str = ""  # why no order ran (the gateway's answer to submit)
    report: dict = field(default_factory=dict)
    likeness_scores: list[float] = field(default_factory=list)  # of every delivered headshot


@dataclass(frozen=True)
class Row:
    """One line of the table; None is n/a."""

    label: str
    orders: int
    generated: int
    rejected: dict[str, int]
    delivered: int
    gated: bool
    likeness_mean: float | None
    likeness_p10: float | None
    consistency: float | None
    quality_mean: float | None
    share_above: float | None
    note: str = ""


def _p10(values: Sequence[float]) -> float:
    return float(np.percentile(values, 10))


def row_for(outcome: Outcome) -> Row:
    report = outcome.report
    if outcome.state != "completed":
        note = outcome.skipped or f"order {outcome.state}"
        return Row(outcome.person, 0, 0, {}, 0, bool(report.get("gated")), None, None, None, None, None, note)
    delivered, scores = report.get("delivered", 0), outcome.likeness_scores
    scored = delivered > 0 and any(s > 0 for s in scores)  # a delivered image without a face scores 0
    return Row(
        outcome.person,
        1,
        report.get("generated", 0),
        dict(report.get("rejected", {})),
        delivered,
        bool(report.get("gated")),
        report["likeness"]["mean"] if scored else None,
        report["likeness"]["p10"] if scored else None,
        report.get("consistency") if scored and delivered > 1 else None,
        report["quality"]["mean"] if delivered else None,
        sum(s >= MIN_LIKENESS for s in scores) / len(scores) if scored and scores else None,
        _note(report, scored),
    )


def overall_row(outcomes: Sequence[Outcome]) -> Row:
    """Every completed order together: the per-image scores pooled, consistency averaged over the orders."""
    done = [o for o in outcomes if o.state == "completed"]
    rejected: Counter[str] = Counter()
    for outcome in done:
        rejected.update(outcome.report.get("rejected", {}))
    scores = [s for o in done for s in o.likeness_scores]
    rows = [row_for(o) for o in done]
    consistencies = [r.consistency for r in rows if r.consistency is not None]
    qualities = [(r.quality_mean, r.delivered) for r in rows if r.quality_mean is not None]
    scored = any(s > 0 for s in scores)
    delivered = sum(r.delivered for r in rows)
    skipped = [o.person for o in outcomes if o.state != "completed"]
    notes = [f"not run: {', '.join(skipped)}"] if skipped else []
    if done and not scored:
        notes.append(NO_FACE_NOTE if all(_all_no_face(o.report) for o in done) else "no delivered image is scored")
    return Row(
        "overall",
        len(done),
        sum(r.generated for r in rows),
        dict(sorted(rejected.items())),
        delivered,
        all(r.gated for r in rows) if rows else False,
        float(np.mean(scores)) if scored else None,
        _p10(scores) if scored else None,
        float(np.mean(consistencies)) if consistencies else None,
        float(np.average([q for q, _ in qualities], weights=[n for _, n in qualities])) if qualities else None,
        sum(s >= MIN_LIKENESS for s in scores) / len(scores) if scored else None,
        "; ".join(notes),
    )


def _all_no_face(report: dict) -> bool:
    return report.get("generated", 0) > 0 and report.get("rejected", {}) == {"no_face": report["generated"]}


def _note(report: dict, scored: bool) -> str:
    if scored:
        return "" if report.get("gated") else "ungated: images not checked"
    if _all_no_face(report):
        return NO_FACE_NOTE
    if not report.get("gated"):
        return "ungated and no face scored: images not checked (--gate on counts the rejections)"
    return "nothing delivered" if not report.get("delivered") else "no delivered image is scored"


COLUMNS = (
    ("person", 16),
    ("orders", 6),
    ("likeness", 8),
    ("p10", 6),
    ("consist.", 8),
    ("quality", 7),
    (">=thr", 6),
    ("generated", 9),
    ("delivered", 9),
)


def _shown(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def format_table(rows: Sequence[Row]) -> str:
    """The table as plain text: one line per row, rejections by reason and a note under it where there are any."""
    header = "  ".join(f"{name:>{width}}" if i else f"{name:<{width}}" for i, (name, width) in enumerate(COLUMNS))
    lines = [header, "-" * len(header)]
    for row in rows:
        cells = [
            row.label,
            str(row.orders),
            _shown(row.likeness_mean),
            _shown(row.likeness_p10),
            _shown(row.consistency),
            _shown(row.quality_mean),
            "n/a" if row.share_above is None else f"{row.share_above:.0%}",
            str(row.generated),
            str(row.delivered),
        ]
        lines.append("  ".join(f"{c:>{w}}" if i else f"{c:<{w}}" for i, (c, (_, w)) in enumerate(zip(cells, COLUMNS))))
        if row.rejected:
            lines.append(" " * 18 + "rejected: " + ", ".join(f"{k} {v}" for k, v in sorted(row.rejected.items())))
        if row.note:
            lines.append(" " * 18 + row.note)
    lines.append(
        f"likeness: 0-1 identity similarity to the order's selfies (dlib; {MIN_LIKENESS} = same-person threshold); "
        ">=thr: share of delivered headshots at or above it"
    )
    return "\n".join(lines)


# -- figures for docs/benchmarks.json ---------------------------------------------------------------------------
def figures(overall: Row, outcomes: Sequence[Outcome], config: dict, prefix: str = FIGURE_PREFIX) -> dict:
    note = overall.note
    model = f"base model {config['base_model_kind']}, gate {'on' if overall.gated else 'off'}"

    def fig(value, unit: str, what: str) -> dict:
        return {"value": value, "unit": unit, "note": "; ".join(x for x in (what, model, note) if x)}

    skipped = {o.person: o.skipped or o.state for o in outcomes if o.state != "completed"}
    return {
        f"{prefix}orders": fig(overall.orders, "orders", f"one per person; not run: {skipped or 'none'}"),
        f"{prefix}images_generated": fig(overall.generated, "images", "rendered, over-generated"),
        f"{prefix}images_delivered": fig(overall.delivered, "images", ""),
        f"{prefix}images_rejected": fig(
            sum(overall.rejected.values()), "images", f"by reason: {overall.rejected or 'none'}"
        ),
        f"{prefix}likeness_mean": fig(_round(overall.likeness_mean), "0-1", "delivered headshots"),
        f"{prefix}likeness_p10": fig(_round(overall.likeness_p10), "0-1", "10th percentile"),
        f"{prefix}consistency": fig(_round(overall.consistency), "0-1", "mean over the orders' sets"),
        f"{prefix}photo_quality_mean": fig(_round(overall.quality_mean), "0-1", "1 - BRISQUE/100"),
        f"{prefix}delivered_above_threshold": fig(_round(overall.share_above), "share", f"likeness >= {MIN_LIKENESS}"),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def merge_into(path: Path, new: dict, config: dict, config_name: str = CONFIG_NAME) -> None:
    """Replace this benchmark's figures in `path`, keep every other key, in bench/run.py's layout."""
    data = json.loads(path.read_text()) if path.exists() else {}
    configs = data.pop("_configs", {})
    previous = set(configs.get(config_name, {}).get("figures", []))
    data = {k: v for k, v in data.items() if k not in previous}
    data.update(new)
    configs[config_name] = {**config, "figures": sorted(new)}
    path.write_text(json.dumps({**dict(sorted(data.items())), "_configs": configs}, indent=2) + "\n")


def _machine() -> str:
    cpu = subprocess.run(
        ["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True
    ).stdout.strip()
    try:
        import torch

        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    except ImportError:
        device = "no torch"
    return f"{cpu or platform.processor()} x{os.cpu_count()}, {device}, Python {platform.python_version()}"


# -- the orders -------------------------------------------------------------------------------------------------
def place_order(client: ApiClient, person: Person, package: str, styles: list[str]) -> Outcome:
    outcome = Outcome(person.name, len(person.photos))
    order = client.json("POST", "/v1/orders", 201, body={"package": package, "styles": styles})
    outcome.order_id = order["id"]
    status, upload = client.request("POST", f"/v1/orders/{order['id']}/photos", files=person.photos)
    results = upload.get("results", []) if isinstance(upload, dict) else []
    outcome.accepted = sum(r["accepted"] for r in results)
    outcome.photo_rejections = dict(Counter(r["reason_code"] for r in results if not r["accepted"]))
    status, answer = client.request("POST", f"/v1/orders/{order['id']}/submit")
    if status == 202:
        outcome.state = "submitted"
    else:
        message = answer.get("error", {}).get("message", "") if isinstance(answer, dict) else ""
        rejected = ", ".join(f"{k} {v}" for k, v in outcome.photo_rejections.items())
        outcome.skipped = (
            f"skipped: {outcome.accepted} of {outcome.photos} photos accepted"
            + (f" (rejected: {rejected})" if rejected else "")
            + (f"; submit answered {status}: {message}" if message else f"; submit answered {status}")
        )
    return outcome


def collect(client: ApiClient, outcome: Outcome) -> None:
    order_id = outcome.order_id
    outcome.report = client.json("GET", f"/v1/orders/{order_id}/report", 200)
    offset = 0
    while True:
        page = client.json("GET", f"/v1/orders/{order_id}/headshots?limit=200&offset={offset}", 200)
        outcome.likeness_scores += [h["likeness_score"] for h in page["results"]]
        offset += len(page["results"])
        if not page["next"] or not page["results"]:
            return


def follow(client: ApiClient, outcomes: list[Outcome], timeout_s: float, console) -> None:
    """Poll every submitted order until final: one bar each with the API's ETA, and one for all of them."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    running = [o for o in outcomes if o.state == "submitted"]
    columns = (
        TextColumn("[bold]{task.description:<34}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn("ETA {task.fields[eta]}"),
    )
    started, deadline = time.monotonic(), time.monotonic() + timeout_s
    with Progress(*columns, console=console) as progress:
        total = progress.add_task(f"all {len(running)} orders", total=100 * len(running), eta="-")
        tasks = {o.order_id: progress.add_task(o.person, total=100, eta="-") for o in running}
        while running and time.monotonic() < deadline:
            percents = {}
            for outcome in list(running):
                order = client.json("GET", f"/v1/orders/{outcome.order_id}", 200)
                percents[outcome.order_id] = order["progress"]["percent"]
                eta = order["progress"].get("eta_s") or 0
                progress.update(
                    tasks[outcome.order_id],
                    completed=order["progress"]["percent"],
                    description=f"{outcome.person}: {order['progress']['stage'] or order['state']}",
                    eta=f"{eta:.0f}s" if eta else "-",
                )
                if order["state"] in FINAL_STATES:
                    outcome.state = order["state"]
                    outcome.skipped = "" if order["state"] == "completed" else order.get("failure_reason", "")
                    running.remove(outcome)
                    percents[outcome.order_id] = 100
            done = sum(percents.values()) + 100 * (len(tasks) - len(percents))
            elapsed = time.monotonic() - started
            fraction = done / max(1, 100 * len(tasks))
            remaining = elapsed * (1 - fraction) / fraction if fraction > 0.02 else 0
            progress.update(total, completed=done, eta=f"{remaining:.0f}s" if remaining else "-")
            time.sleep(1)
    for outcome in running:
        outcome.state, outcome.skipped = "timed out", f"not final after {timeout_s:.0f}s"


def run_eval(
    stack: Stack, people: list[Person], package: str, styles: list[str], timeout_s: float, console
) -> list[Outcome]:
    email = f"eval-{os.getpid()}-{int(time.time())}@headshots.local"
    token = sign_up_consumer(stack.gateway_url, mailbox.mail_dir(stack.var_dir), email, secrets.token_urlsafe(12))
    client = ApiClient(stack.gateway_url, token)
    outcomes = []
    for person in people:
        outcome = place_order(client, person, package, styles)
        console.print(
            f"{person.name}: {outcome.accepted} of {outcome.photos} photos accepted"
            + (f" (rejected: {outcome.photo_rejections})" if outcome.photo_rejections else "")
            + ("" if outcome.state == "submitted" else " -- not submitted")
        )
        outcomes.append(outcome)
    follow(client, outcomes, timeout_s, console)
    for outcome in outcomes:
        if outcome.state == "completed":
            collect(client, outcome)
    return outcomes


def evaluate(
    args: argparse.Namespace, console, extra_env: dict[str, str] | None = None
) -> tuple[list[Row], list[Outcome], dict, float]:
    """Start a stack, run the orders, stop it. The table's rows (people, then overall), the outcomes, the config."""
    from rich.progress import Progress

    var_dir = Path(os.environ.get("HEADSHOTS_VAR_DIR") or REPO_ROOT / "var" / "eval")
    stack = Stack(
        var_dir=var_dir,
        ports=Ports.free(),  # beside a developer's `make up`
        extra_env={"HEADSHOTS_QUALITY_GATE": args.gate, **(extra_env or {})},
    )
    base_model = stack.env["HEADSHOTS_BASE_MODEL"]
    people = load_people(Path(args.people))
    started = time.monotonic()
    try:
        with Progress(console=console) as progress:
            task = progress.add_task("starting the stack", total=1)
            stack.up(lambda what, done, total: progress.update(task, description=what, completed=done, total=total))
        outcomes = run_eval(stack, people, args.package, args.styles, args.timeout_s, console)
    finally:
        stopped = stack.down()
        console.print(f"stopped {len(stopped)} services")
    seconds = time.monotonic() - started
    rows = [row_for(o) for o in outcomes] + [overall_row(outcomes)]
    config = {
        "base_model": base_model,
        "base_model_kind": "generated test model" if is_generated_test_model(base_model) else base_model,
        "gate": args.gate,
        "package": args.package,
        "styles": args.styles,
        "people": [p.name for p in people],
        "machine": _machine(),
        "seconds": round(seconds, 1),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return rows, outcomes, config, seconds


def stop_on_sigterm() -> None:
    """A terminated run (a timeout, a CI cancel) still stops the stack it started: SIGTERM unwinds like Ctrl-C."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def parser(description: str = __doc__.splitlines()[0]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--people", default=str(PEOPLE_DIR), help="a folder per person, their photos inside")
    parser.add_argument("--package", default="basic", help="the package each order buys (default basic)")
    parser.add_argument("--styles", nargs="+", default=DEFAULT_STYLES)
    parser.add_argument("--gate", choices=["on", "auto"], default="on", help="the renderer's quality gate")
    parser.add_argument("--timeout-s", type=float, default=3600, help="for all orders together")
    parser.add_argument("--json", default=str(BENCHMARKS_JSON), help="merge the figures into this file")
    parser.add_argument("--no-json", action="store_true", help="print the table only")
    return parser


def main(argv: list[str] | None = None, report: Callable[[list[Row]], str] = format_table) -> int:
    from rich.console import Console

    args = parser().parse_args(argv)
    console = Console(stderr=True)
    stop_on_sigterm()
    rows, outcomes, config, seconds = evaluate(args, console)
    print(report(rows))
    print(f"\n{len(outcomes)} people, {rows[-1].orders} orders run, {seconds:.0f}s; base model: {config['base_model']}")
    if not args.no_json:
        merge_into(Path(args.json), figures(rows[-1], outcomes, config), config)
        print(f"figures written to {args.json} ({FIGURE_PREFIX}*)")
    return 0 if rows[-1].orders else 1


if __name__ == "__main__":
    sys.exit(main())
