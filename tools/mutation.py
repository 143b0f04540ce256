"""Mutation testing of KBP's security-critical functions (see tools/mutation.md).

Re-runnable, deterministic, standard library plus pytest. For every function named in
:data:`TARGETS` it makes every mutant of a fixed list of operators (below), one at a time, and
runs that module group's test subset against it with ``pytest -x``. A mutant is *killed* when a
test fails or errors, *survives* when the subset passes, and counts as killed by *timeout* when it
runs longer than ``--timeout`` seconds (an endless loop is caught too).

Operators (applied only inside the named functions; nothing in ``_()``/``ngettext`` messages):

* ``cmp``   ``==``↔``!=``, ``<``→``<=``, ``<=``→``<``, ``>``→``>=``, ``>=``→``>``, ``in``↔``not in``,
            ``is``↔``is not``
* ``bool``  ``and``↔``or``
* ``not``   ``not x`` → ``x``
* ``const`` ``True``↔``False``; an integer ``n`` → ``n + 1``
* ``arith`` ``+``↔``-``, ``*``→``/``
* ``call``  a call used as a statement (``sessions.end_all(...)``, ``audit.record(...)``,
            ``tx.delete(...)`` …) → ``pass``
* ``raise`` a ``raise`` → ``pass`` (a permission or validation refusal dropped)

How a mutant runs: the parent process imports KBP once; for each mutant it forks, swaps the
mutated code object into the live function (``func.__code__``, so every reference to the function
sees it) and runs ``pytest.main`` on the subset in the child. Nothing is written to the source
files, so an interrupted run leaves the work tree as it was.

    .venv/bin/python tools/mutation.py                      # every group
    .venv/bin/python tools/mutation.py --group plans        # one group
    .venv/bin/python tools/mutation.py --group auth --only core.auth:_account_from_token
    .venv/bin/python tools/mutation.py --list               # the mutants, not run
    .venv/bin/python tools/mutation.py --show core.plans:relation#3   # the diff of one mutant

Results go to ``--out`` (default ``.mutation/results.json``) and a summary to standard output.
"""
from __future__ import annotations

import argparse
import ast
import copy
import difflib
import importlib
import inspect
import json
import os
import signal
import sys
import textwrap
import time
import shutil
import tempfile
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: group -> (functions "module:qualname", pytest arguments: the test subset)
TARGETS: dict[str, tuple[list[str], list[str]]] = {
    "auth": (  # tokens and sessions first, then account changes (core/services/accounts.py since the service layer)
        [
            "core.auth:_account_from_token", "core.auth:token_state", "core.auth:new_token",
            "core.auth:load_user", "core.auth:revoke_tokens_in", "core.auth:delete_tokens_in",
            "core.auth:check_own_password_change", "core.auth:Account.at_least", "core.auth:public_account",
            "core.sessions:check_session", "core.sessions:_expired", "core.sessions:end_session",
            "core.sessions:end_all_in", "core.sessions:open_session", "core.sessions:prune",
            "core.sessions:check_settings",
            "core.services.accounts:update_account", "core.services.accounts:delete_account",
            "core.services.accounts:sign_out_everywhere", "core.services.accounts:change_own_password",
            "core.services.accounts:issue_token", "core.services.accounts:revoke_token",
        ],
        ["tests/test_accounts.py", "tests/test_sessions.py", "tests/test_mutation_guards.py"],
    ),
    "plans": (
        [
            "core.plans:relation", "core.plans:is_current_coach", "core.plans:visible_plan",
            "core.plans:require_edit", "core.plans:is_private", "core.plans:for_viewer",
            "core.plans:keep_private_items", "core.plans:set_note", "core.plans:agree",
            "core.plans:_candidate_plans", "core.plans:visible_plans", "core.plans:history",
        ],
        ["tests/test_privacy.py", "tests/test_plans.py", "tests/test_mutation_guards.py"],
    ),
    "people": (
        [
            "core.people:export_for", "core.people:export_self", "core.people:export_person",
            "core.people:erase", "core.people:erase_person", "core.people:visible_ids",
            "core.people:visible_person",
        ],
        ["tests/test_privacy.py", "tests/test_plans.py", "tests/test_accounts.py::test_person_export_and_erase",
         "tests/test_accounts.py::test_web_erase_needs_confirmation", "tests/test_mutation_guards.py"],
    ),
    "licensing": (
        [
            "core.licensing:_check_payload_fields", "core.licensing:_signature_valid",
            "core.licensing:verify_licence", "core.licensing:LicenceStore.install",
            "core.entitlements:Entitlements.check", "core.entitlements:Entitlements.available",
            "core.entitlements:Entitlements.install_demo",
        ],
        ["tests/test_licensing.py", "tests/test_mutation_guards.py"],
    ),
}

MESSAGE_CALLS = {"_", "gettext", "ngettext", "lazy_gettext"}
CMP_SWAP = {
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE,
    ast.GtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
ARITH_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div}


@dataclass
class Mutant:
    key: str  # "module:qualname#n"
    target: str
    operator: str
    line: int
    before: str
    after: str


def _is_message_call(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in MESSAGE_CALLS)


def _sites(fn: ast.AST) -> list[tuple[ast.AST, str, object]]:
    """Every (node, operator, detail) site in the function, in a stable order; messages skipped."""
    sites: list[tuple[ast.AST, str, object]] = []

    def visit(node: ast.AST) -> None:
        if _is_message_call(node):
            return
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in CMP_SWAP:
                    sites.append((node, "cmp", i))
        elif isinstance(node, ast.BoolOp):
            sites.append((node, "bool", None))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            sites.append((node, "not", None))
        elif isinstance(node, ast.Constant) and (isinstance(node.value, bool) or type(node.value) is int):
            sites.append((node, "const", None))
        elif isinstance(node, ast.BinOp) and type(node.op) in ARITH_SWAP:
            sites.append((node, "arith", None))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            sites.append((node, "call", None))
        elif isinstance(node, ast.Raise):
            sites.append((node, "raise", None))
        for child in ast.iter_child_nodes(node):
            visit(child)

    for stmt in fn.body:
        if (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)):
            continue  # the docstring
        visit(stmt)
    return sites


def _apply(fn: ast.FunctionDef, index: int) -> tuple[ast.FunctionDef, str, int]:
    """A deep copy of ``fn`` with site ``index`` mutated; (new function, operator, line)."""
    fn = copy.deepcopy(fn)
    node, operator, detail = _sites(fn)[index]
    line = getattr(node, "lineno", fn.lineno)
    if operator == "cmp":
        node.ops[detail] = CMP_SWAP[type(node.ops[detail])]()
    elif operator == "bool":
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif operator == "arith":
        node.op = ARITH_SWAP[type(node.op)]()
    elif operator == "const":
        node.value = (not node.value) if isinstance(node.value, bool) else node.value + 1
    elif operator in ("not", "call", "raise"):
        replacement = node.operand if operator == "not" else ast.Pass()
        _replace(fn, node, replacement)
    return fn, operator, line


def _replace(tree: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, name, new)
                return
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if item is old:
                        value[i] = new
                        return
    raise AssertionError("node not found")


def _function(target: str):
    module_name, qualname = target.split(":")
    module = importlib.import_module(module_name)
    obj = module
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return module, inspect.unwrap(obj)


def _function_ast(func) -> ast.FunctionDef:
    source = textwrap.dedent(inspect.getsource(func))
    fn = ast.parse(source).body[0]
    ast.increment_lineno(fn, func.__code__.co_firstlineno - 1)
    return fn


def mutants_of(target: str) -> list[tuple[Mutant, ast.FunctionDef]]:
    _module, func = _function(target)
    fn = _function_ast(func)
    original = ast.unparse(fn).splitlines()
    result = []
    for index in range(len(_sites(fn))):
        mutated, operator, line = _apply(fn, index)
        after_lines = ast.unparse(mutated).splitlines()
        diff = [d for d in difflib.unified_diff(original, after_lines, lineterm="", n=0)
                if d[:1] in "+-" and not d.startswith(("+++", "---"))]
        before = " / ".join(d[1:].strip() for d in diff if d.startswith("-"))
        after = " / ".join(d[1:].strip() for d in diff if d.startswith("+"))
        result.append((Mutant(f"{target}#{index}", target, operator, line, before, after), mutated))
    return result


def _code_of(func, mutated: ast.FunctionDef) -> types.CodeType:
    module_ast = ast.Module(body=[mutated], type_ignores=[])
    ast.fix_missing_locations(module_ast)
    import __future__

    code = compile(module_ast, inspect.getsourcefile(func), "exec",
                   flags=__future__.annotations.compiler_flag, dont_inherit=True)
    for const in code.co_consts:
        if isinstance(const, types.CodeType) and const.co_name == mutated.name:
            return const
    raise AssertionError("compiled function not found")


class _CallRecorder:
    """A pytest plugin: which tests call which target function (``sys.setprofile``)."""

    def __init__(self, codes: dict[types.CodeType, str]):
        self.codes = codes
        self.calls: dict[str, list[str]] = {target: [] for target in codes.values()}
        self.seconds: dict[str, float] = {}
        self._current: set[str] = set()

    def _profile(self, frame, event, arg):
        if event == "call":
            target = self.codes.get(frame.f_code)
            if target is not None:
                self._current.add(target)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        import threading

        self._current = set()
        sys.setprofile(self._profile)
        threading.setprofile(self._profile)
        start = time.monotonic()
        yield
        sys.setprofile(None)
        threading.setprofile(None)
        self.seconds[item.nodeid] = time.monotonic() - start
        for target in self._current:
            self.calls[target].append(item.nodeid)


def map_tests(functions: list[str], tests: list[str], cache: Path) -> dict[str, list[str]]:
    """{function: the subset's tests that call it, fastest first}, recorded once in a child process."""
    pid = os.fork()
    if pid == 0:
        try:
            recorder = _CallRecorder({_function(t)[1].__code__: t for t in functions})
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            basetemp = tempfile.mkdtemp(prefix="kbp-mutation-map-")
            status = pytest.main(["-q", "-p", "no:cacheprovider", f"--basetemp={basetemp}", *tests], plugins=[recorder])
            shutil.rmtree(basetemp, ignore_errors=True)
            order = {nodeid: s for nodeid, s in recorder.seconds.items()}
            calls = {t: sorted(ids, key=order.get) for t, ids in recorder.calls.items()}
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_text(json.dumps({"status": int(status), "calls": calls, "seconds": order}, indent=1))
            os._exit(0)
        except BaseException:
            import traceback

            traceback.print_exc()
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("recording which tests call which function failed")
    data = json.loads(cache.read_text())
    if data["status"] != 0:
        raise SystemExit(f"the test subset {tests} does not pass unmutated: fix that first")
    return data["calls"]


def _preimport(tests: list[str]) -> None:
    """Import the test modules once in the parent: every forked mutant run reuses them."""
    for name in ["tests.conftest", *(t.split("::")[0][:-3].replace("/", ".") for t in tests)]:
        importlib.import_module(name)


def run_mutant(target: str, mutated: ast.FunctionDef, tests: list[str], timeout: float) -> tuple[str, float]:
    """``killed``, ``survived``, ``timeout`` or ``error`` (the mutant could not be installed)."""
    _module, func = _function(target)
    start = time.monotonic()
    basetemp = Path(tempfile.mkdtemp(prefix="kbp-mutant-"))  # this run's own, not shared with other pytest runs
    try:
        return _fork_and_run(func, mutated, tests, timeout, start, basetemp)
    finally:
        shutil.rmtree(basetemp, ignore_errors=True)


def _fork_and_run(func, mutated, tests, timeout, start, basetemp) -> tuple[str, float]:
    pid = os.fork()
    if pid == 0:  # the child: install the mutant, run the subset, report through the exit status
        try:
            new_code = _code_of(func, mutated)
            if new_code.co_freevars != func.__code__.co_freevars:
                os._exit(4)
            func.__code__ = new_code
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            status = pytest.main(["-x", "-q", "-p", "no:cacheprovider", f"--basetemp={basetemp}", *tests])
            os._exit(0 if status == 0 else 1)
        except BaseException:
            os._exit(3)
    deadline = start + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout", time.monotonic() - start
        time.sleep(0.05)
    code = os.waitstatus_to_exitcode(status)
    outcome = {0: "survived", 1: "killed"}.get(code, "error")
    return outcome, time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--group", action="append", choices=sorted(TARGETS), help="module group(s); default all")
    parser.add_argument("--only", action="append", help="only these functions (module:qualname)")
    parser.add_argument("--key", action="append", help="only these mutants (module:qualname#n); implies their functions")
    parser.add_argument("--list", action="store_true", help="list the mutants without running them")
    parser.add_argument("--show", help="print one mutant (module:qualname#n) and exit")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant (default 300)")
    parser.add_argument("--out", default=str(ROOT / ".mutation" / "results.json"))
    parser.add_argument("--tests", nargs="+", help="override the group's test subset")
    parser.add_argument("--survivors-of", metavar="RESULTS",
                        help="rerun only the mutants that survived in this results file (after new tests)")
    parser.add_argument("--map", metavar="CALLS", help="reuse this recorded test map (calls-*.json) of an earlier run")
    parser.add_argument("--resume", action="store_true", help="skip the mutants already in --out")
    parser.add_argument("--report", nargs="+", metavar="RESULTS", help="print the summary of results files and exit")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("KBP_LOCALE", "en")

    if args.report:
        print(summary([r for f in args.report for r in json.loads(Path(f).read_text())]))
        return 0

    if args.show:
        target, _, index = args.show.partition("#")
        mutant, mutated = mutants_of(target)[int(index)]
        print(f"{mutant.key} [{mutant.operator}] line {mutant.line}\n- {mutant.before}\n+ {mutant.after}")
        return 0

    if args.survivors_of:
        args.key = [r["key"] for r in json.loads(Path(args.survivors_of).read_text()) if r["outcome"] == "survived"]
        if not args.key:
            print("no survivors")
            return 0
    if args.key:
        args.only = sorted({k.partition("#")[0] for k in args.key} | set(args.only or ()))
    groups = args.group or [g for g, (fns, _tests) in TARGETS.items() if not args.only or set(fns) & set(args.only)]
    results = []
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(out.read_text()) if out.exists() else []
    for group in groups:
        functions, tests = TARGETS[group]
        tests = args.tests or tests
        tests = [t for t in tests if (ROOT / t.split("::")[0]).exists()]
        functions = [f for f in functions if not args.only or f in args.only]
        if not args.list:
            if args.map:
                calls = json.loads(Path(args.map).read_text())["calls"]
            else:
                calls = map_tests(functions, tests, out.parent / f"calls-{group}-{out.stem}.json")
            _preimport(tests)
        for target in functions:
            for mutant, mutated in mutants_of(target):
                if args.key and mutant.key not in args.key:
                    continue
                if args.resume and any(r["key"] == mutant.key for r in previous):
                    continue
                if args.list:
                    print(f"{mutant.key:55} {mutant.operator:6} L{mutant.line:<4} {mutant.before}  =>  {mutant.after}")
                    continue
                if not calls[target]:  # no test of the subset reaches the function
                    outcome, seconds = "survived", 0.0
                else:
                    outcome, seconds = run_mutant(target, mutated, calls[target], args.timeout)
                results.append({"group": group, **mutant.__dict__, "outcome": outcome, "seconds": round(seconds, 1)})
                ran = {r["key"] for r in results}  # written after every mutant: an interrupted run keeps its results
                out.write_text(json.dumps([r for r in previous if r["key"] not in ran] + results, indent=1))
                print(f"{outcome:8} {seconds:6.1f}s {mutant.key:50} {mutant.operator:6} L{mutant.line:<4} "
                      f"{mutant.before}  =>  {mutant.after}", flush=True)
    if args.list:
        return 0
    print()
    print(summary(results))
    return 0


def summary(results: list[dict]) -> str:
    lines = ["module              mutants  killed  timeout  survived  error  kill rate"]
    for module in dict.fromkeys(r["target"].split(":")[0] for r in results):
        rs = [r for r in results if r["target"].split(":")[0] == module]
        counts = {k: sum(1 for r in rs if r["outcome"] == k) for k in ("killed", "timeout", "survived", "error")}
        valid = len(rs) - counts["error"]
        rate = 100 * (counts["killed"] + counts["timeout"]) / valid if valid else 0
        lines.append(f"{module:18} {len(rs):8} {counts['killed']:7} {counts['timeout']:8} {counts['survived']:9} "
                     f"{counts['error']:6} {rate:8.1f}%")
    survivors = [r for r in results if r["outcome"] == "survived"]
    if survivors:
        lines.append("\nsurvivors:")
        lines += [f"  {r['key']:50} L{r['line']:<4} {r['before']}  =>  {r['after']}" for r in survivors]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
