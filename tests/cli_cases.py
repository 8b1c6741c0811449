"""Cases for the CLI test scripts, each run on its own: one CTest per case (tests/CMakeLists.txt).

A script marks each case with @case (its name: the function's, less "test_"), checks with
check(), and ends with `sys.exit(cli_cases.main(setup))`, where setup takes the script's own
arguments. Then:

  script.py --list              the case names, one a line; needs no arguments and runs nothing
                                (CMake runs it at configure time, before npyflow is built)
  script.py --case NAME ARGS    runs that case alone: exit 0 if every check passed, 1 if not
  script.py ARGS                runs every case, one after another

Each case runs in a directory of its own, TMP/NAME, in a fresh temporary directory TMP that is
removed afterwards; whatever a case needs (inputs it draws, reference outputs) it makes there
itself. Cases share no files, so they run alone, in any order and in parallel (ctest -j).
A case that cannot run in this build or on this machine calls skip(reason): exit status 77,
which CTest reports as skipped (SKIP_RETURN_CODE), not as passed.
"""
import inspect
import os
import sys
import tempfile
import time
import traceback

_cases = {}  # name -> function, in the order the script defines them
failures = []
SKIP_RETURN_CODE = 77


class Skipped(Exception):
    pass


def check(ok, what):
    """Records a failed check (the case goes on, and fails at its end) and prints it."""
    if not ok:
        failures.append(what)
        print("FAIL:", what, flush=True)
    return ok


def skip(reason):
    """Ends the case here, as skipped: it cannot run in this build or on this machine."""
    raise Skipped(reason)


def case(fn):
    """Registers fn(tmp) as a case: tmp is an empty directory of its own."""
    name = fn.__name__.removeprefix("test_")
    if name in _cases:
        raise ValueError(f"two cases named {name!r}")
    _cases[name] = fn
    return fn


def _run(name):
    """Runs one case in a fresh temporary directory: "passed", "failed" or "skipped"."""
    before = len(failures)
    skipped = None
    print(f"--- {name}", flush=True)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"npyflow-{name}-") as root:
        tmp = os.path.join(root, name)
        os.mkdir(tmp)
        try:
            _cases[name](tmp)
        except Skipped as e:
            skipped = str(e)
        except Exception:  # an exception is a failure of this case, not of the ones after it
            traceback.print_exc()
            failures.append(f"{name}: raised an exception")
    failed = len(failures) - before
    outcome = "failed" if failed else "skipped" if skipped is not None else "passed"
    detail = {"failed": f"FAILED, {failed} failure(s)", "skipped": f"skipped: {skipped}", "passed": "passed"}[outcome]
    print(f"{name}: {time.monotonic() - start:.1f} s, {detail}", flush=True)
    return outcome


def main(setup, report=None):
    """Runs the cases sys.argv asks for (see the module's doc); returns the exit status.
    setup(*args) takes the script's own arguments; report(), if given, prints a summary after."""
    args = sys.argv[1:]
    if args[:1] == ["--list"]:
        print("\n".join(_cases))
        return 0
    names = list(_cases)
    if args[:1] == ["--case"]:
        if len(args) < 2 or args[1] not in _cases:
            print(f"--case needs one of: {', '.join(_cases)}", file=sys.stderr)
            return 2
        names, args = [args[1]], args[2:]
    try:
        inspect.signature(setup).bind(*args)
    except TypeError:
        doc = sys.modules["__main__"].__doc__ or ""
        usage = [line for line in doc.splitlines() if line.startswith("usage:")]
        print("\n".join(usage) or f"usage: {sys.argv[0]} [--list | --case NAME] ARGS...", file=sys.stderr)
        return 2
    setup(*args)
    outcomes = {name: _run(name) for name in names}
    if report:
        report()
    failed = [name for name, outcome in outcomes.items() if outcome == "failed"]
    if len(names) > 1:
        skipped = sum(outcome == "skipped" for outcome in outcomes.values())
        print(f"{len(names) - len(failed) - skipped} of {len(names)} cases passed, {skipped} skipped"
              + (f"; failed: {', '.join(failed)}" if failed else ""))
        return 1 if failed else 0
    return {"passed": 0, "failed": 1, "skipped": SKIP_RETURN_CODE}[outcomes[names[0]]]
