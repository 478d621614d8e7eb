"""The Typer app of ``pdmail``: its global options, and every command group registered on it.

Each command group lives in its own module; this one builds the app. Importing it loads Typer, so the
piped single message path (``pdmail.cli.fastpath``) never does.
"""

import sys
from typing import Annotated

import typer

from pdmail import __version__
from pdmail.cli import plain_params
from pdmail.cli.common import DbOption, DebugOption, GlobalState, JsonOption, QuietOption, UserOption
from pdmail.cli.helptext import HelpCommand, HelpGroup

plain_params.install()

app = typer.Typer(
    name="pdmail",
    help=(
        "Keep your team's email next to its contacts and deals, in one SQLite file.\n\n"
        "Start with `pdmail init --name 'Maria Lopez' --email maria@example.com`, add contacts and "
        "deals, then capture mail with `pdmail bcc-ingest` or `pdmail sync`."
    ),
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    cls=HelpGroup,
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


def _register() -> None:
    from pdmail.cli import accounts, actions, admin, capture, crm, link, mail, send
    from pdmail.cli import db as db_cli
    from pdmail.cli import sync as sync_cli

    admin.register(app)
    crm.register(app)
    capture.register(app)
    mail.register(app)
    actions.register(app)
    accounts.register(app)
    sync_cli.register(app)
    send.register(app)
    link.register(app)
    db_cli.register(app)


_register()


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
