"""The developers' `headshots` commands: the local stack (up, down, status), the end-to-end demo, partners, model
generation, chaos. The `headshots` program is the client package's (headshots_client.cli: `order ...`, `team ...`);
these join it through the `headshots.cli` entry point (`add_commands`), so a partner's install has none of them."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from headshots_tools.localstack import PROMETHEUS_BINARY, REPO_ROOT, STATE_FILE, Stack, StackError
from headshots_tools.localstack.containers import LABEL

console = Console(stderr=True)
CONTAINERS_HELP = "every service a container of its image (podman; `make images` builds them), as the chart runs it"


def _stack(containers: bool = False) -> Stack:
    """The developer's stack: processes under VAR (HEADSHOTS_VAR_DIR, default var/), containers under VAR/containers
    (a folder of their own: their user, 10001, owns it)."""
    var_dir = Path(os.environ.get("HEADSHOTS_VAR_DIR", REPO_ROOT / "var"))
    return Stack(var_dir=var_dir / "containers", containers=True) if containers else Stack(var_dir=var_dir)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
    )


def cmd_up(args) -> int:
    stack = _stack(args.containers)
    stack.trainers, stack.renderer_replicas, stack.prometheus = args.trainers, args.renderer_replicas, args.prometheus
    with _progress() as progress:
        task = progress.add_task("starting", total=1)
        stack.up(lambda what, done, total: progress.update(task, description=what, completed=done, total=total))
    console.print(
        f"[green]stack is up[/]: REST {stack.gateway_url}/v1, partner gRPC 127.0.0.1:{stack.ports.partner_grpc}, "
        f"renderer gRPC 127.0.0.1:{stack.ports.renderer_grpc}, Kafka 127.0.0.1:{stack.ports.kafka}; "
        f"logs in {stack.logs_dir}. Stop with `make down`."
    )
    if stack.containers:
        console.print(f"every service is a container of its image: `podman ps --filter label={LABEL}={stack.var_dir}`")
    if stack.prometheus:
        console.print(
            f"Prometheus: http://127.0.0.1:{stack.ports.prometheus} (scraping {len(stack.metrics_ports)} processes)"
        )
    return 0


def cmd_down(args) -> int:
    """Stops both stacks: the processes and, where podman is installed, the containers."""
    stopped = _stack().down()
    if shutil.which("podman"):
        stopped += [f"{name} (container)" for name in _stack(containers=True).down()]
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
    return 0


def cmd_status(args) -> int:
    running = _stack().running()
    for name, pid in running.items():
        console.print(f"{name:22} pid {pid}")
    containers = _stack(containers=True).running() if shutil.which("podman") else {}
    for name, container_id in containers.items():
        console.print(f"{name:22} container {container_id}")
    running |= containers
    if not running:
        console.print("nothing is running")
    return 0


def cmd_prometheus_config(args) -> int:
    """A Prometheus configuration that scrapes every process of the local stack (the running one's ports)."""
    stack = _stack()
    if (stack.run_dir / STATE_FILE).exists():
        stack = Stack.from_state(stack.var_dir)
    print(stack.prometheus_config(), end="")
    return 0


def cmd_partner(args) -> int:
    """Forwards to the gateway's `manage.py partner`, with the local stack's configuration."""
    import subprocess

    from headshots_tools.localstack import GATEWAY_DIR

    stack = _stack()
    stack.manage("migrate", "--noinput")  # a fresh checkout has no database yet
    return subprocess.run(
        [sys.executable, "manage.py", "partner", *args.partner_args], cwd=GATEWAY_DIR, env=stack.env
    ).returncode


def cmd_model(args) -> int:
    from headshots_tools.tinymodel import generate_tiny_base_model

    out = Path(args.out or REPO_ROOT / "var" / "models" / f"tiny-{args.arch}")
    path = generate_tiny_base_model(out, args.arch, progress=lambda line: console.print(line), overwrite=args.force)
    print(path)
    return 0


def cmd_demo(args) -> int:
    from headshots_tools.demo import run_demo

    stack = _stack(args.containers)
    try:
        with _progress() as progress:
            task = progress.add_task("starting", total=1)
            stack.up(lambda what, done, total: progress.update(task, description=what, completed=done, total=total))
        started = time.monotonic()
        result = run_demo(
            stack,
            package=args.package,
            styles=args.styles,
            out_dir=Path(args.out),
            console=console,
            progress_factory=_progress,
        )
        console.print(f"\norder {result.order_id} is [bold]{result.state}[/] after {time.monotonic() - started:.0f}s")
        console.print(f"{len(result.files)} headshots in {result.out_dir}; on one page: {result.contact_sheet}")
        console.print(
            f"In the studio (after `make up`): {stack.gateway_url}/studio/orders/{result.order_id} "
            f"-- sign in as {result.email} / {result.password}"
        )
        return 0 if result.state == "completed" and result.files else 1
    finally:
        stopped = stack.down()
        console.print(f"stopped {len(stopped)} services")


def cmd_chaos(args) -> int:
    from headshots_tools.chaos import main as chaos_main

    return chaos_main(args.chaos_args)


def _stack_errors(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A stack that cannot start or stop says why and exits 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except StackError as exc:
            console.print(f"[red]error:[/] {exc}")
            return 2

    return run


def add_commands(sub) -> None:
    """The `headshots.cli` entry point: the developers' commands on the `headshots` parser."""
    up = sub.add_parser("up", help="start the local stack in the background (a supervisor restarts what dies)")
    up.add_argument("--trainers", type=int, default=1, help="trainer worker processes (one consumer group)")
    up.add_argument("--renderer-replicas", type=int, default=1, help="Ray Serve replicas of the renderer")
    up.add_argument(
        "--prometheus",
        action="store_true",
        help=f"also run Prometheus ({PROMETHEUS_BINARY}, `make prometheus`) on 127.0.0.1:9090, scraping every service",
    )
    up.add_argument("--containers", action="store_true", help=CONTAINERS_HELP)
    up.set_defaults(func=_stack_errors(cmd_up))
    sub.add_parser("down", help="stop everything `up` started, Ray and containers included").set_defaults(
        func=_stack_errors(cmd_down)
    )
    sub.add_parser("status", help="list running services").set_defaults(func=_stack_errors(cmd_status))
    sub.add_parser(
        "prometheus-config", help="print a Prometheus scrape configuration for the local stack's metrics"
    ).set_defaults(func=_stack_errors(cmd_prometheus_config))
    demo = sub.add_parser("demo", help="start the stack, run one real order end to end, stop the stack")
    demo.add_argument("--package", default="basic")
    demo.add_argument(
        "--styles", nargs="+", default=["corporate-navy", "creative-sage", "executive-black", "friendly-white"]
    )
    demo.add_argument("--out", default=str(REPO_ROOT / "var" / "demo"))
    demo.add_argument("--containers", action="store_true", help=CONTAINERS_HELP)
    demo.set_defaults(func=_stack_errors(cmd_demo))
    partner = sub.add_parser(
        "partner",
        help="partner organisations: create NAME [--quota N] [--test] | revoke KEY | revoke PREFIX --tenant ID | list",
        add_help=False,
    )
    partner.add_argument("partner_args", nargs=argparse.REMAINDER)
    partner.set_defaults(func=_stack_errors(cmd_partner))
    model = sub.add_parser("model", help="generate the tiny offline base model")
    model.add_argument("--arch", choices=["sd15", "sdxl"], default="sd15")
    model.add_argument("--out")
    model.add_argument("--force", action="store_true")
    model.set_defaults(func=_stack_errors(cmd_model))
    chaos = sub.add_parser(
        "chaos", help="orders through random kills, a broker restart and deletions (make chaos)", add_help=False
    )
    chaos.add_argument("chaos_args", nargs=argparse.REMAINDER)
    chaos.set_defaults(func=_stack_errors(cmd_chaos))


def main(argv: list[str] | None = None) -> int:
    """`python -m headshots_tools.cli`: the same program as the installed `headshots`."""
    from headshots_client.cli import main as headshots_main

    return headshots_main(argv)


if __name__ == "__main__":
    sys.exit(main())
