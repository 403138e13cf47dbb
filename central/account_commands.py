"""Handlers of `samplepoint central add-user | disable-user | enable-user`: web console accounts
(docs/central.md). A new password, a new role or disabling an account ends every console session
it has at once; each change is in the audit log."""
from __future__ import annotations

import getpass
import logging
import sys

from samplepoint import config as config_module

log = logging.getLogger("samplepoint")


def _username(args) -> str:
    """The account named by --username (or as the one word after the command), checked."""
    from central.commands import _check_ids
    name = getattr(args, "name", None)
    if name is not None and args.username is not None and name != args.username:
        raise config_module.ConfigError("name the account once: NAME or --username NAME")
    args.username = args.username if args.username is not None else name
    if args.username is None:
        raise config_module.ConfigError("name the account: --username NAME")
    if not args.username.isprintable():
        raise config_module.ConfigError("--username holds a control character (an account name "
                                        "is letters, digits, '.', '_' or '-')")
    _check_ids(args, "username")
    return args.username


def add_user(args) -> int:
    """Create a console account; the password is hashed with argon2 and never stored."""
    from central.commands import open_db
    from central.console.auth import hash_password, password_problem

    username = _username(args)
    db = open_db(args.db)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise config_module.ConfigError("the two passwords differ")
    problem = password_problem(password)
    if problem:
        raise config_module.ConfigError(problem)
    if not db.add_user(username, hash_password(password), args.role, replace=args.reset):
        raise config_module.ConfigError(f"account {username} exists; add --reset to set a new "
                                        f"password and role")
    db.audit("-", "reset-user" if args.reset else "add-user", f"{username} ({args.role})")
    log.info("console account %s (%s) ready%s", username, args.role,
             "; its sessions were ended" if args.reset else "")
    return 0


def disable_user(args) -> int:
    """The account can no longer sign in, and every session it has ends now."""
    return _set_disabled(args, True)


def enable_user(args) -> int:
    return _set_disabled(args, False)


def _set_disabled(args, disabled: bool) -> int:
    from central.commands import open_db

    username = _username(args)
    db = open_db(args.db)
    if not db.set_user_disabled(username, disabled):
        raise config_module.ConfigError(f"no console account {username}")
    db.audit("-", "disable-user" if disabled else "enable-user", username)
    log.info("console account %s %s", username,
             "disabled; its sessions were ended" if disabled else "enabled")
    return 0
