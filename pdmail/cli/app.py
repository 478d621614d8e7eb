"""The Typer app of ``pdmail``: its global options, and where each of its commands comes from.

Each command group lives in its own module; this one builds the app. Importing it loads Typer, so the
piped single message path (``pdmail.cli.fastpath``) never does. A command's module is imported only
when that command runs or is listed (``pdmail.cli.lazy_group``), so ``pdmail inbox`` loads neither
the sync nor the outbox.
"""

import sys
from collections.abc import Mapping
from typing import Annotated, ClassVar

import typer

from pdmail import __version__
from pdmail.cli import plain_params
from pdmail.cli.common import DbOption, DebugOption, GlobalState, JsonOption, QuietOption, UserOption
from pdmail.cli.helptext import HelpCommand, HelpGroup
from pdmail.cli.lazy_group import LazyGroup, Registration, Source

plain_params.install()


# Where each command comes from: one function per module, which imports it and gives its `register`.
def _admin() -> Registration:
    from pdmail.cli import admin

    return admin.register


def _crm() -> Registration:
    from pdmail.cli import crm

    return crm.register


def _capture() -> Registration:
    from pdmail.cli import capture

    return capture.register


def _mail() -> Registration:
    from pdmail.cli import mail

    return mail.register


def _actions() -> Registration:
    from pdmail.cli import actions

    return actions.register


def _accounts() -> Registration:
    from pdmail.cli import accounts

    return accounts.register


def _sync() -> Registration:
    from pdmail.cli import sync

    return sync.register


def _send() -> Registration:
    from pdmail.cli import send

    return send.register


def _link() -> Registration:
    from pdmail.cli import link

    return link.register


def _db() -> Registration:
    from pdmail.cli import db

    return db.register


class PdmailGroup(LazyGroup):
    """The app's group. Its commands in the order help lists them: single commands, then groups;
    ``help`` is defined below, with the app."""

    sources: ClassVar[Mapping[str, Source | None]] = {
        "init": _admin,
        "bcc-ingest": _capture,
        "inbox": _mail,
        "show": _mail,
        "search": _mail,
        "share": _actions,
        "read": _actions,
        "unread": _actions,
        "archive": _actions,
        "delete": _actions,
        "restore": _actions,
        "export": _actions,
        "sync": _sync,
        "send": _send,
        "link": _link,
        "explain": _link,
        "help": None,
        "user": _admin,
        "settings": _admin,
        "contact": _crm,
        "org": _crm,
        "deal": _crm,
        "account": _accounts,
        "outbox": _send,
        "template": _send,
        "db": _db,
    }


app = typer.Typer(
    name="pdmail",
    help=(
        "Keep your team's email next to its contacts and deals, in one SQLite file.\n\n"
        "Start with `pdmail init --name 'Maria Lopez' --email maria@example.com`, add contacts and "
        "deals, then capture mail with `pdmail bcc-ingest` or `pdmail sync`."
    ),
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    cls=PdmailGroup,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"pdmail {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def main(
    ctx: typer.Context,
    db: DbOption = None,
    user: UserOption = None,
    json_output: JsonOption = False,
    quiet: QuietOption = False,
    debug: DebugOption = False,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    ctx.obj = GlobalState(db=db or None, user=user, json=json_output, quiet=quiet, debug=debug)


@app.command("help", cls=HelpCommand)
def help_command(
    ctx: typer.Context,
    words: Annotated[
        list[str] | None, typer.Argument(metavar="COMMAND", help="A command, such as inbox or contact list.")
    ] = None,
) -> None:
    """Show the help of pdmail or of one of its commands.

    Examples:
        $ pdmail help inbox
        $ pdmail help contact list
    """
    from typer._click import Context

    from pdmail.cli.helptext import usage_error

    root = ctx.find_root()
    command, here = root.command, root
    for word in words or []:
        sub = command.get_command(here, word) if isinstance(command, HelpGroup) else None
        if sub is None:
            from typer._click.exceptions import UsageError

            raise typer.Exit(usage_error(UsageError(f"no command {' '.join(words or [])!r}", ctx=root)))
        command, here = sub, Context(sub, info_name=word, parent=here)
    sys.stdout.write(command.get_help(here) + "\n")


def run() -> None:
    app(prog_name="pdmail")  # also under `python -m pdmail`: help and errors name the command people type
