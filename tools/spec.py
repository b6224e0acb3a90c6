"""`python -m tools.spec COMMAND`: render and check the files in specs/, the matrix, the gate's timing."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness import REPORTS, ROOT


def _render(args: argparse.Namespace) -> int:
    from harness.spec.catalogue import REQUIREMENTS_MD, load_catalogue, render_markdown

    text = render_markdown(load_catalogue())
    current = REQUIREMENTS_MD.read_text(encoding="utf-8") if REQUIREMENTS_MD.exists() else ""
    if args.check:
        if text != current:
            print(f"{REQUIREMENTS_MD.relative_to(ROOT)} is stale: run `python -m tools.spec render`")
            return 1
        return 0
    if text != current:
        REQUIREMENTS_MD.write_text(text, encoding="utf-8")
    print(f"{REQUIREMENTS_MD.relative_to(ROOT)}: {'written' if text != current else 'up to date'}")
    return 0


def _openapi(args: argparse.Namespace) -> int:
    from harness.spec import openapi

    if args.write:
        changed = openapi.write()
        print(f"{openapi.SNAPSHOT.relative_to(ROOT)}: {'written' if changed else 'up to date'}")
        return 0
    difference = openapi.drift(openapi.reference_schema())
    if args.check:
        if difference:
            print(difference + f"\nThe code's OpenAPI differs from the snapshot; if intended: {openapi.WRITE_COMMAND}")
            return 1
        return 0
    print(openapi.canonical(openapi.reference_schema()), end="")
    return 0


def _matrix(args: argparse.Namespace) -> int:
    from harness.spec.matrix import SUITE_DIRS, Run, build, gaps, render_text, summary, write_reports

    paths = args.results or sorted((REPORTS / "spec").glob("*.json"))
    if not paths:
        print("no results: run the suites with --req-json (tox -e unit,api,security does) or use tox -e spec")
        return 1
    run = Run.merge(paths)
    lines = build(run)
    print(render_text(lines))
    written = write_reports(run, lines, args.out)
    print(f"{summary(lines)}; written: {', '.join(map(str, written))}")
    if not args.check:
        return 0
    if not run.is_full:
        missing = sorted(set(SUITE_DIRS) - run.suites)
        print(f"traceability gate: these suites did not run in full: {', '.join(missing)}")
        return 1
    refused = gaps(lines)
    for line in refused:
        print(f"unproven: {line}")
    return 1 if refused else 0


def _timing(args: argparse.Namespace) -> int:
    from tools.timing import main

    return main(args.envs, write=args.write)


def _mutation(args: argparse.Namespace) -> int:
    from tools.mutation import main

    return main(max_children=args.max_children, budget_seconds=args.budget)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.spec", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    render = commands.add_parser("render", help="write specs/requirements.md from specs/requirements.yaml")
    render.add_argument("--check", action="store_true", help="exit 1 if requirements.md is stale")
    render.set_defaults(run=_render)

    openapi = commands.add_parser("openapi", help="print, check or write the committed OpenAPI snapshot")
    mode = openapi.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="regenerate specs/openapi.json on purpose")
    mode.add_argument("--check", action="store_true", help="exit 1 with a diff if the code drifted")
    openapi.set_defaults(run=_openapi)

    matrix = commands.add_parser("matrix", help="merge runs' --req-json results into the requirement matrix")
    matrix.add_argument("results", nargs="*", type=Path, help="results JSON files (default: reports/spec/*.json)")
    matrix.add_argument("--out", type=Path, default=REPORTS, help="where spec-matrix.{md,html} go")
    matrix.add_argument("--check", action="store_true", help="exit 1 if a requirement is unproven")
    matrix.set_defaults(run=_matrix)

    timing = commands.add_parser("timing", help="run the default tox gate env by env and print wall-clock times")
    timing.add_argument("envs", nargs="*", help="tox envs (default: tox's env_list)")
    timing.add_argument("--write", action="store_true", help="also write specs/gate-timing.md")
    timing.set_defaults(run=_timing)

    mutation = commands.add_parser("mutation", help="run mutmut within a time budget; print score and survivors")
    mutation.add_argument("--max-children", type=int, default=2)
    mutation.add_argument("--budget", type=float, default=1800, help="seconds before mutmut is stopped")
    mutation.set_defaults(run=_mutation)

    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
