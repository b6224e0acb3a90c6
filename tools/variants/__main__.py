"""`python -m tools.variants`: serve one variant on 127.0.0.1 (never another host) until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import signal
from types import FrameType

import uvicorn

from tools.variants.app import DEFECTS, create_variant_app


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.variants", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--auth", choices=("secret", "jwks"), required=True)
    parser.add_argument("--secret", help="the HS256 secret (secret mode, at least 32 bytes)")
    parser.add_argument("--jwks-url", help="the JWKS URL (jwks mode)")
    parser.add_argument("--issuer", help="expected iss (jwks mode: defaults to the JWKS URL's origin)")
    parser.add_argument("--audience", help="expected aud (jwks mode: defaults to the JWKS URL's origin)")
    parser.add_argument("--id-type", choices=("int", "uuid"), default="int")
    parser.add_argument("--no-docs", action="store_true", help="no /docs, /redoc or /openapi.json")
    parser.add_argument("--defect", action="extend", nargs="+", choices=DEFECTS, default=[], metavar="NAME")
    return parser


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    app = create_variant_app(
        args.database_url,
        auth=args.auth,
        secret=args.secret,
        jwks_url=args.jwks_url,
        issuer=args.issuer,
        audience=args.audience,
        id_type=args.id_type,
        docs=not args.no_docs,
        defects=frozenset(args.defect),
    )
    # uvicorn shuts down gracefully (the lifespan closes the pool), then re-raises the signal to the handler it found:
    # this one, so that the process exits 0 instead of dying of SIGTERM.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit_cleanly)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", timeout_graceful_shutdown=5)


if __name__ == "__main__":
    main()
