"""The partners' error catalogue, generated from the gateway's code: `python -m headshots_tools.error_catalogue`
writes docs/partners/errors.md (`--check` only compares it).

Every error the gateway answers carries a machine-readable code (REST `error.code`, gRPC `ErrorInfo.reason`). The
codes are string literals at the places that raise them, so the catalogue reads the source (no Django needed):

- a call of a domain error class (`gateway/errors.py`: `DomainError` and its subclasses) with the code as its first
  argument or `code=`; a class that fixes its code in its own `__init__` (`NotFound`) counts at every call;
- a call of `envelope("code", …)` (what a view or middleware outside DRF answers), with the HTTP status of the
  `JsonResponse(…, status=N)` around it;
- DRF's own exceptions, renamed by `gateway/rest_errors.py`'s `_DRF_CODES` (REST only).

The HTTP and gRPC statuses of a domain error come from its class, through `rest_errors.HTTP_STATUS` and
`partner_grpc/status.STATUS_CODE`. A domain error whose code is not a literal cannot be catalogued: `scan` reports
it as unresolved, and the test (tools/tests/test_error_catalogue.py) fails on it as on a stale page.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GATEWAY = REPO / "services" / "gateway"
CATALOGUE = REPO / "docs" / "partners" / "errors.md"
# Packages of the gateway that answer requests (not its tests or migrations).
SKIPPED_DIRS = {"tests", "migrations", "__pycache__", "headshots_gateway.egg-info"}
# DRF's exceptions as `_DRF_CODES` names them, and the status DRF answers for each (rest_framework.exceptions).
DRF_STATUS = {
    "NotAuthenticated": 401,
    "AuthenticationFailed": 401,
    "PermissionDenied": 403,
    "NotFound": 404,
    "MethodNotAllowed": 405,
    "ParseError": 400,
    "UnsupportedMediaType": 415,
    "ValidationError": 400,
    "Throttled": 429,
}


@dataclass(frozen=True)
class Emission:
    """One place in the gateway's source that answers an error code."""

    code: str
    http: str  # "400", or "—" when gRPC only
    grpc: str  # "INVALID_ARGUMENT", or "—" when REST only
    message: str  # the message as written, placeholders in braces
    where: str  # path:line, relative to services/gateway


@dataclass
class Scan:
    emissions: list[Emission] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)  # path:line of domain errors without a literal code

    def codes(self) -> set[str]:
        return {e.code for e in self.emissions}


def _sources(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        if not SKIPPED_DIRS.intersection(path.relative_to(root).parts):
            yield path


def _name(node: ast.expr) -> str:
    """`Foo` for `Foo` and `errors.Foo`."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _text(node: ast.expr | None) -> str:
    """A message as a reader sees it: literal text, and each interpolated expression in braces."""
    if node is None:
        return ""
    if (literal := _literal(node)) is not None:
        return literal
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            elif isinstance(value, ast.FormattedValue):
                parts.append("{" + ast.unparse(value.value) + "}")
        return "".join(parts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _text(node.left) + _text(node.right)
    return "{" + ast.unparse(node) + "}"


def _argument(call: ast.Call, position: int, keyword: str) -> ast.expr | None:
    if len(call.args) > position:
        return call.args[position]
    return next((k.value for k in call.keywords if k.arg == keyword), None)


def _domain_classes(tree: ast.Module) -> tuple[dict[str, str], dict[str, str]]:
    """The domain error classes of gateway/errors.py, each with its base, and the codes that classes fix."""
    bases: dict[str, str] = {}
    fixed: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            bases[node.name] = _name(node.bases[0]) if node.bases else ""
            for call in ast.walk(node):
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "__init__"
                    and (code := _literal(_argument(call, 0, "code")))
                ):
                    fixed[node.name] = code
    classes = {name: base for name, base in bases.items() if _is_domain(name, bases)}
    return classes, fixed


def _is_domain(name: str, bases: dict[str, str]) -> bool:
    while name:
        if name == "DomainError":
            return True
        name = bases.get(name, "")
    return False


def _status_tables(root: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The HTTP status (rest_errors.HTTP_STATUS) and gRPC status (partner_grpc.status.STATUS_CODE) per class."""

    def table(path: Path, variable: str) -> dict[str, str]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.AnnAssign) and _name(node.target) == variable and isinstance(node.value, ast.Dict):
                return {_name(k): _name(v) for k, v in zip(node.value.keys, node.value.values) if k is not None}
        raise LookupError(f"{variable} not found in {path}")

    rest = table(root / "gateway" / "rest_errors.py", "HTTP_STATUS")
    http = {cls: re.sub(r"HTTP_(\d+)_.*", r"\1", status) for cls, status in rest.items()}
    grpc = table(root / "partner_grpc" / "status.py", "STATUS_CODE")
    return http, grpc


def _http_of_response(parents: dict[ast.AST, ast.AST], node: ast.AST) -> str:
    """The literal `status=` of the JsonResponse/Response call that wraps `node`."""
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.Call) and _name(node.func) in {"JsonResponse", "Response"}:
            status = next((k.value for k in node.keywords if k.arg == "status"), None)
            if isinstance(status, ast.Constant):
                return str(status.value)
            return "—" if status is None else re.sub(r".*HTTP_(\d+)_.*", r"\1", ast.unparse(status))
    return "—"


def scan(root: Path = GATEWAY) -> Scan:
    """Every error code answered by the gateway's source under `root`."""
    classes, fixed = _domain_classes(ast.parse((root / "gateway" / "errors.py").read_text()))
    http_of, grpc_of = _status_tables(root)

    def statuses(cls: str) -> tuple[str, str]:
        while cls not in http_of and cls in classes:
            cls = classes[cls]
        return http_of.get(cls, "—"), grpc_of.get(cls, "—")

    result = Scan()
    for path in _sources(root):
        where_file = path.relative_to(root).as_posix()
        tree = ast.parse(path.read_text())
        parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                callee, where = _name(node.func), f"{where_file}:{node.lineno}"
                if callee in classes:
                    code = fixed.get(callee) or _literal(_argument(node, 0, "code"))
                    if code is None:
                        result.unresolved.append(where)
                        continue
                    message = _argument(node, 0 if callee in fixed else 1, "what" if callee in fixed else "message")
                    text = _text(message) if callee not in fixed else "{what} not found"
                    http, grpc = statuses(callee)
                    result.emissions.append(Emission(code, http, grpc, text, where))
                elif callee == "envelope" and (code := _literal(_argument(node, 0, "code"))):
                    text = _text(_argument(node, 1, "message"))
                    result.emissions.append(Emission(code, _http_of_response(parents, node), "—", text, where))
            if isinstance(node, ast.Assign) and any(_name(t) == "_DRF_CODES" for t in node.targets):
                assert isinstance(node.value, ast.Dict)
                for key, value in zip(node.value.keys, node.value.values):
                    code = _literal(value)
                    if key is not None and code:
                        drf = _name(key)
                        said = f"DRF {drf}"
                        if drf == "ValidationError":
                            said += ": the fields' problems in details.fields"
                        result.emissions.append(
                            Emission(code, str(DRF_STATUS.get(drf, "—")), "—", said, f"{where_file}:{key.lineno}")
                        )
    return result


HEADER = """\
# Error catalogue

<!-- Generated by `python -m headshots_tools.error_catalogue` from the gateway's code; do not edit by hand.
     tools/tests/test_error_catalogue.py fails when a code the gateway raises is missing here. -->

Every error answers one shape. REST: `{{"error": {{"code", "message", "details"}}}}` with the HTTP status below;
gRPC: the status below, with the same code as `google.rpc.ErrorInfo.reason` (domain `headshots.v1`), field problems
as `BadRequest` field violations and waits as `RetryInfo`. Switch on the **code**, never on the message: messages
are for people and may be reworded. A 429 or 503 carries `Retry-After` (gRPC `RetryInfo`): the same request may
succeed after it. "—" in a column: the code is not answered over that protocol.

{count} codes.

| code | HTTP | gRPC | message (placeholders in braces) | raised in (services/gateway/) |
|---|---|---|---|---|
"""


def _cell(values: list[str]) -> str:
    return "<br>".join(v.replace("|", "\\|").replace("\n", " ") for v in values)


def listed_codes(text: str) -> set[str]:
    """The codes a catalogue page lists (its table's first column)."""
    return set(re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.MULTILINE))


def render(result: Scan) -> str:
    by_code: dict[str, list[Emission]] = {}
    for emission in result.emissions:
        by_code.setdefault(emission.code, []).append(emission)
    rows = []
    for code in sorted(by_code):
        emissions = by_code[code]
        http = sorted({e.http for e in emissions} - {"—"}) or ["—"]
        grpc = sorted({e.grpc for e in emissions} - {"—"}) or ["—"]
        messages = sorted({e.message for e in emissions if e.message})
        modules = sorted({e.where.split(":")[0] for e in emissions})
        rows.append(f"| `{code}` | {_cell(http)} | {_cell(grpc)} | {_cell(messages)} | {_cell(modules)} |")
    return HEADER.format(count=len(by_code)) + "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare docs/partners/errors.md, write nothing")
    args = parser.parse_args(argv)
    result = scan()
    if result.unresolved:
        print("domain errors without a literal code:", *result.unresolved, sep="\n  ", file=sys.stderr)
        return 1
    text = render(result)
    if args.check:
        if not CATALOGUE.exists() or CATALOGUE.read_text() != text:
            print(f"{CATALOGUE.relative_to(REPO)} is stale: python -m headshots_tools.error_catalogue", file=sys.stderr)
            return 1
        return 0
    CATALOGUE.parent.mkdir(parents=True, exist_ok=True)
    CATALOGUE.write_text(text)
    print(f"{CATALOGUE.relative_to(REPO)}: {len({e.code for e in result.emissions})} codes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
