"""app/core/error_codes.py is the one list of error codes, and the source keeps it true: every
code there is raised somewhere, none is spelled as a bare string, and each raise comes with
its code's usual status. (Requests producing each code: tests/test_error_shape.py.)"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import app
from app.core.error_codes import EXTRA_KEYS, PAGES_ONLY, ErrorCode, api_codes
from app.core.errors import TouchpointError
from app.views import errors as error_views

APP = Path(app.__file__).resolve().parent
REGISTRY = APP / "core" / "error_codes.py"


def sources() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(APP.rglob("*.py")):
        if path != REGISTRY:
            yield str(path.relative_to(APP.parent)), ast.parse(path.read_text(encoding="utf-8"))


def literals(node: ast.expr) -> list[str]:
    """The strings an expression can evaluate to as written: `"x"`, `"a" if c else "b"`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return literals(node.body) + literals(node.orelse)
    if isinstance(node, ast.BoolOp):
        return [s for value in node.values for s in literals(value)]
    return []


def members_named(node: ast.AST) -> list[str]:
    """The `ErrorCode.NAME` references inside a node."""
    return [
        n.attr
        for n in ast.walk(node)
        if isinstance(n, ast.Attribute)
        and isinstance(n.value, ast.Name)
        and n.value.id == "ErrorCode"
    ]


def error_classes() -> dict[str, type[TouchpointError]]:
    """Every TouchpointError subclass in app/, by name (importing each module finds them)."""
    for module in pkgutil.walk_packages(app.__path__, "app."):
        importlib.import_module(module.name)
    found: dict[str, type[TouchpointError]] = {}
    pending = [TouchpointError]
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return found


def test_every_name_is_its_code_and_every_meaning_one_sentence():
    for code in ErrorCode:
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", code.value), code
        assert code.name == code.value.upper(), code
        assert code.status is None or 400 <= code.status <= 599, code
        meaning = code.meaning
        assert meaning.endswith(".") and "\n" not in meaning and len(meaning) <= 80, code
    assert set(EXTRA_KEYS) | PAGES_ONLY <= set(ErrorCode)
    assert [c for c in api_codes() if c in PAGES_ONLY] == []


def test_every_code_is_used_in_app_and_every_use_names_a_code():
    used: dict[str, list[str]] = {}
    for path, tree in sources():
        for name in members_named(tree):
            used.setdefault(name, []).append(path)
    unknown = {name: paths for name, paths in used.items() if name not in ErrorCode.__members__}
    assert not unknown, f"ErrorCode has no such member (a typo?): {unknown}"
    unused = [c.name for c in ErrorCode if c.name not in used]
    assert not unused, f"codes nothing raises: remove them from app/core/error_codes.py: {unused}"


def code_expressions(node: ast.AST) -> list[ast.expr]:
    """What a node gives or compares as an error code: `code=...`, `code = ...`,
    `{"code": ..., "message": ...}`, `exc.code == ...`."""
    if isinstance(node, ast.keyword) and node.arg == "code":
        return [node.value]
    if isinstance(node, ast.Assign):
        names = [getattr(t, "id", getattr(t, "attr", None)) for t in node.targets]
        return [node.value] if "code" in names else []
    if isinstance(node, ast.Dict):
        keys = [k.value if isinstance(k, ast.Constant) else None for k in node.keys]
        if "code" in keys and "message" in keys:
            return [node.values[keys.index("code")]]
    if isinstance(node, ast.Compare):
        sides = [node.left, *node.comparators]
        if any(isinstance(side, ast.Attribute) and side.attr == "code" for side in sides):
            return sides
    return []


def test_no_error_code_is_spelled_as_a_string():
    found = []
    for path, tree in sources():
        for node in ast.walk(tree):
            for expression in code_expressions(node):
                found += [f"{path}:{node.lineno} {value!r}" for value in literals(expression)]
    assert not found, f"name the ErrorCode member instead: {found}"


def test_each_raise_comes_with_its_codes_usual_status():
    classes = error_classes()
    statuses = {name: cls.status for name, cls in classes.items()}
    statuses["add"] = 422  # validation.Collector.add gathers ValidationErrors
    wrong = []
    for path, tree in sources():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name not in statuses:
                continue
            for keyword in node.keywords:
                if keyword.arg == "code":
                    for member in members_named(keyword.value):
                        code = ErrorCode.__members__.get(member)
                        if code is not None and code.status != statuses[name]:
                            wrong.append(f"{path}:{node.lineno} {name}({member})")
    for cls in classes.values():
        if "code" in vars(cls) and cls.code.status != cls.status:
            wrong.append(f"{cls.__qualname__}: {cls.code} with {cls.status}")
    for status, code in error_views._HTTP_CODES.items():
        if code.status != status:
            wrong.append(f"app/views/errors.py: {status} answers {code}")
    assert not wrong, f"the status disagrees with app/core/error_codes.py: {wrong}"


@pytest.mark.parametrize("name", ["Unauthorized", "Forbidden", "Conflict", "Gone"])
def test_statuses_without_a_generic_code_need_one_named(name):
    cls = error_classes()[name]
    with pytest.raises(TypeError):
        cls("no reason given")  # type: ignore[call-arg]
