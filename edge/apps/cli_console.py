"""``edgeface console``: the local web console, and setting its password."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from pathlib import Path
from typing import Any

from edge.errors import UsageError


def read_new_password() -> str:
    """Twice at a terminal (not echoed), or one line from standard input (a script, a pipe)."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("new console password: ")
    if getpass.getpass("again: ") != first:
        raise UsageError("the two passwords differ; nothing was changed, run the command again")
    return first


def cmd_console(args: argparse.Namespace) -> int:
    from edge.apps.console.auth import hash_password
    from edge.store import Store
    from edge.unit.config import load_config

    cfg = load_config(args.config, {"store.path": str(args.store)} if args.store else {})
    if args.set_password:
        hashed = hash_password(read_new_password())
        with Store(cfg.store.path) as st:
            st.set_console_password_hash(hashed)
        print(f"console password set (a salted scrypt hash in {cfg.store.path})")
        return 0
    from edge.apps.console.server import serve

    logging.basicConfig(stream=sys.stdout, force=True, level=logging.DEBUG if args.verbose else cfg.logging.level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(cfg, host=args.host, port=args.port)
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("console", help="the local web console: people, unknown faces, events, status (login required)")
    p.add_argument("--config", required=True, help="device config (firmware_configs/*.yaml): its store, console and models settings")
    p.add_argument("--store", type=Path, help="override store.path")
    p.add_argument("--host", help="override console.host (default 127.0.0.1: this unit only)")
    p.add_argument("--port", type=int, help="override console.port (default 8080)")
    p.add_argument("--set-password", action="store_true", help="set the console's password (asked twice, or one line on stdin)")
    p.set_defaults(func=cmd_console)
