"""Import check run INSIDE a built service image (tests/deploy/test_service_images.py mounts it read-only).

Run as `python image_probe.py SPEC_JSON` from the image's WORKDIR, as the chart's user 10001 on a read-only
root filesystem, so sys.path[0] is that directory, exactly as for `python -m trainer`, `python manage.py ...`
or gunicorn. Uses the standard library only until it imports the service.

Checks, each reported as `ok` or `FAIL` with the full traceback:
- it runs in the image's virtualenv on the Python the Dockerfiles ask for;
- no other service's code, no developer tool and no forbidden distribution (the gateway: torch, ray, ...);
- pinned versions (torch, ray) equal constraints.txt;
- console scripts the chart runs (gunicorn, ray) are installed in the venv;
- Django setup, `manage.py check`, every management command of the project's apps, the WSGI app
  the way gunicorn loads it, and the PostgreSQL and Redis client libraries the chart's settings use;
- the entry modules and import paths the chart runs (Ray Serve application, gRPC servicer functions);
- every module of the service's own packages;
- every import written inside a function (loaded lazily at run time) of the project's modules that
  were loaded, except those guarded by `try: ... except ImportError` or `if TYPE_CHECKING:`;
- the dlib face models load (every service analyses faces);
- the project's modules come from the image's virtualenv or its WORKDIR.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.util
import json
import os
import pkgutil
import re
import sys
import time
import traceback
from pathlib import Path

SPEC = json.loads(sys.argv[1])
FAILURES: list[str] = []


def check(label: str):
    """Decorator-style runner: `check(label)(function)` runs function and reports the outcome."""

    def run(function):
        started = time.monotonic()
        try:
            detail = function()
        except BaseException as exc:
            FAILURES.append(f"{label}: {type(exc).__name__}: {exc}")
            print(f"FAIL {label}: {type(exc).__name__}: {exc}", flush=True)
            traceback.print_exc(file=sys.stdout)
            return None
        suffix = f" -- {detail}" if detail else ""
        print(f"ok   {label} ({time.monotonic() - started:.1f}s){suffix}", flush=True)
        return detail

    return run


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed() -> dict[str, str]:
    return {canonical(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}


def import_attr(path: str):
    """`module:attr` or `package.module.attr`, the way Ray Serve resolves import paths."""
    try:
        from ray._common.utils import import_attr as ray_import_attr  # Serve's own resolver
    except ImportError:
        pass
    else:
        return ray_import_attr(path)
    if ":" in path:
        module, _, attr = path.partition(":")
    else:
        module, _, attr = path.rpartition(".")
    value = importlib.import_module(module)
    for part in attr.split("."):
        value = getattr(value, part)
    return value


# ---------------------------------------------------------------- environment


def environment():
    if sys.prefix != SPEC["venv"]:
        raise AssertionError(f"running in {sys.prefix}, not the image's virtualenv {SPEC['venv']}")
    expected = SPEC.get("python")
    if expected and f"{sys.version_info.major}.{sys.version_info.minor}" != expected:
        raise AssertionError(f"python {sys.version.split()[0]}, the Dockerfiles ask for python {expected}")
    return f"python {sys.version.split()[0]}, {len(installed())} distributions, cwd {os.getcwd()}, uid {os.getuid()}"


def isolation():
    dists = installed()
    problems = []
    for name in SPEC["forbidden"] + SPEC["foreign"]:
        if canonical(name) in dists:
            problems.append(f"distribution {name} {dists[canonical(name)]} is installed")
    top_level = {"torch", "ray", "diffusers", "transformers", "peft", "accelerate", "safetensors"}
    for module in sorted(top_level & {canonical(n).replace("-", "_") for n in SPEC["forbidden"]}):
        if importlib.util.find_spec(module) is not None:
            problems.append(f"module {module} is importable")
    if problems:
        raise AssertionError("; ".join(problems))
    checked = SPEC["forbidden"] + SPEC["foreign"]
    return f"absent: {', '.join(checked)}" if checked else None


def pins():
    dists = installed()
    found = {}
    for name, version in SPEC["pinned"].items():
        actual = dists.get(canonical(name))
        if actual is None or actual.split("+")[0] != version:
            raise AssertionError(f"{name}: installed {actual}, constraints.txt pins {version}")
        found[name] = actual
    return ", ".join(f"{k}=={v}" for k, v in found.items())


def scripts():
    for script in SPEC["scripts"]:
        path = Path(SPEC["venv"]) / "bin" / script
        if not os.access(path, os.X_OK):
            raise AssertionError(f"console script {script} missing from {path.parent}")
    return ", ".join(SPEC["scripts"])


# ---------------------------------------------------------------- django


def django_setup():
    import django

    if os.environ.get("DJANGO_SETTINGS_MODULE") != "gateway.settings":
        raise AssertionError(f"DJANGO_SETTINGS_MODULE={os.environ.get('DJANGO_SETTINGS_MODULE')!r}")
    django.setup()
    return f"django {django.get_version()}"


def django_check():
    from django.core.management import call_command

    call_command("check", verbosity=0)


def django_backends():
    from django.core.cache import caches
    from django.db import connections

    connection = connections["default"]  # imports the backend module (psycopg for PostgreSQL)
    cache = caches["default"]
    detail = f"database {connection.vendor} ({type(connection).__module__})"
    if type(cache).__name__ == "RedisCache":
        client = cache._cache  # RedisCache creates its client, importing redis, on first use (no connection yet)
        client.get_client  # noqa: B018
        import redis

        detail += f", cache RedisCache (redis {redis.__version__})"
    else:
        detail += f", cache {type(cache).__name__}"
    return detail


def manage_commands():
    from django.core.management import get_commands, load_command_class

    commands = get_commands()
    project_apps = set(SPEC["packages"])
    ours = {name for name, app in commands.items() if app.split(".")[0] in project_apps}
    wanted = set(SPEC["manage_commands"]) | ours
    missing = set(SPEC["manage_commands"]) - set(commands)
    if missing:
        raise AssertionError(f"management commands not found: {sorted(missing)}")
    for name in sorted(wanted):
        load_command_class(commands[name], name)
    return ", ".join(sorted(wanted))


def wsgi(path):
    def run():
        from gunicorn.util import import_app  # exactly how gunicorn loads gateway.wsgi:application

        application = import_app(path)
        if not callable(application):
            raise AssertionError(f"{path} is not callable")
        return type(application).__name__

    return run


# ---------------------------------------------------------------- modules


def import_module(name):
    return lambda: importlib.import_module(name) and None


def attr(path):
    def run():
        value = import_attr(path)
        if path == "renderer.app:app":
            from ray.serve import Application

            if not isinstance(value, Application):
                raise AssertionError(f"{path} is a {type(value).__name__}, not a ray.serve Application")
        return type(value).__name__

    return run


def every_module(package):
    def run():
        module = importlib.import_module(package)
        names = [package]
        problems = []
        if hasattr(module, "__path__"):

            def unwalkable(name):
                error = sys.exc_info()[1]
                problems.append(f"{name}: {type(error).__name__}: {error}")

            for info in pkgutil.walk_packages(module.__path__, prefix=package + ".", onerror=unwalkable):
                if info.name.endswith(".__main__"):
                    continue  # imported explicitly where the chart runs `python -m`; guarded by __name__
                try:
                    importlib.import_module(info.name)
                except Exception as exc:
                    print(f"  {info.name} fails to import:", flush=True)
                    traceback.print_exc(file=sys.stdout)
                    problems.append(f"{info.name}: {type(exc).__name__}: {exc}")
                names.append(info.name)
        if problems:
            raise ImportError("; ".join(problems))
        return f"{len(names)} modules"

    return run


class LazyImports(ast.NodeVisitor):
    """Imports inside functions, skipping those guarded by `except ImportError` or TYPE_CHECKING."""

    GUARDS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}

    def __init__(self, module_name: str, is_package: bool):
        self.module_name = module_name
        self.is_package = is_package
        self.depth = 0
        self.guarded = 0
        self.found: list[tuple[int, str, str, list[str]]] = []  # line, statement, module, names

    def visit_FunctionDef(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Try(self, node):
        names = set()
        for handler in node.handlers:
            types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
            names |= {t.id for t in types if isinstance(t, ast.Name)}
            if handler.type is None:  # a bare `except:`
                names.add("BaseException")
        guarded = bool(names & self.GUARDS)
        self.guarded += guarded
        for child in node.body:
            self.visit(child)
        self.guarded -= guarded
        for child in node.handlers + node.orelse + node.finalbody:
            self.visit(child)

    def visit_If(self, node):
        test = ast.unparse(node.test)
        if test in {"TYPE_CHECKING", "typing.TYPE_CHECKING"}:
            for child in node.orelse:
                self.visit(child)
            return
        self.generic_visit(node)

    def visit_Import(self, node):
        if self.depth and not self.guarded:
            for alias in node.names:
                self.found.append((node.lineno, f"import {alias.name}", alias.name, []))

    def visit_ImportFrom(self, node):
        if not (self.depth and not self.guarded):
            return
        module = node.module or ""
        if node.level:
            parts = self.module_name.split(".")
            base = parts if self.is_package else parts[:-1]
            base = base[: len(base) - (node.level - 1)]
            module = ".".join(base + ([module] if module else []))
        names = [alias.name for alias in node.names if alias.name != "*"]
        self.found.append((node.lineno, ast.unparse(node), module, names))


def project_modules():
    roots = set(SPEC["packages"]) | {"headshots_common", "headshots"}
    result = []
    for name, module in sorted(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if module is None or not path or not path.endswith(".py") or name.split(".")[0] not in roots:
            continue
        result.append((name, Path(path), hasattr(module, "__path__")))
    return result


def lazy_imports():
    checked = 0
    problems = []
    for name, path, is_package in project_modules():
        visitor = LazyImports(name, is_package)
        visitor.visit(ast.parse(path.read_text(), str(path)))
        for lineno, statement, module, names in visitor.found:
            where = f"{name} ({path.name}:{lineno})"
            try:
                imported = importlib.import_module(module)
                for item in names:
                    if not hasattr(imported, item):
                        importlib.import_module(f"{module}.{item}")
                    getattr(imported, item)
            except Exception as exc:
                problems.append(f"{where}: `{statement}`: {type(exc).__name__}: {exc}")
            checked += 1
    if problems:
        raise ImportError("; ".join(problems))
    return f"{checked} imports inside functions"


def faces():
    from headshots_common.faces import MODEL_FILES, face_analyzer, model_paths

    face_analyzer()
    folder = model_paths()["landmarks"].parent
    extra = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name not in MODEL_FILES.values())
    if extra:  # the Dockerfile's prune step (docs/licences.md: only the files the analyser loads ship)
        raise AssertionError(f"face model files that nothing loads are in the image: {extra}")
    return "dlib detector, 5-point landmarks and embedder loaded; no other face model file ships"


def origins():
    allowed = (os.path.realpath(sys.prefix) + os.sep, os.path.realpath(os.getcwd()) + os.sep)
    roots = set(SPEC["packages"]) | {"headshots_common", "headshots"}
    elsewhere = sorted(
        name
        for name, module in list(sys.modules.items())
        if name.split(".")[0] in roots
        and getattr(module, "__file__", None)
        and not os.path.realpath(module.__file__).startswith(allowed)
    )
    if elsewhere:
        raise AssertionError(f"project modules from outside the image's venv and WORKDIR: {elsewhere[:20]}")
    own = {
        name: os.path.dirname(os.path.realpath(sys.modules[name].__file__ or ""))
        for name in SPEC["packages"]
        if name in sys.modules
    }
    return "; ".join(f"{name} from {path}" for name, path in sorted(own.items())[:3])


def main() -> int:
    print(f"probing the {SPEC['service']} image", flush=True)
    check("environment")(environment)
    check("isolation")(isolation)
    if SPEC["pinned"]:
        check("pinned versions")(pins)
    if SPEC["scripts"]:
        check("console scripts")(scripts)
    if SPEC["django"]:
        if check("django.setup()")(django_setup) is None and FAILURES:
            return report()
        check("manage.py check")(django_check)
        check("database and cache client libraries")(django_backends)
        check("manage.py commands")(manage_commands)
    for path in SPEC["wsgi"]:
        check(f"gunicorn {path}")(wsgi(path))
    for name in SPEC["modules"]:
        check(f"import {name}")(import_module(name))
    for path in SPEC["attrs"]:
        check(f"import path {path}")(attr(path))
    for package in SPEC["packages"]:
        check(f"every module of {package}")(every_module(package))
    check("lazy imports")(lazy_imports)
    if "headshots_common.faces" in sys.modules:
        check("face models")(faces)
    check("module origins")(origins)
    return report()


def report() -> int:
    if FAILURES:
        print(f"\n{SPEC['service']}: {len(FAILURES)} check(s) failed:", flush=True)
        for failure in FAILURES:
            print(f"  - {failure}", flush=True)
        return 1
    print(f"\n{SPEC['service']}: every check passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
