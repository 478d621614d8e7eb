"""Help that reads like the tools people already know, and usage errors on one line.

Every command and group of the app is built from the classes here. Help is plain text laid out as
click lays it out: the usage line, the description, then each option with the kind of value it
takes (``--limit INTEGER``, ``ID``), a command's own options apart from the global ones, and an
"Examples:" section with one ``$ pdmail ...`` line per example, never wrapped, so it can be
copied. An option's name is never shortened: a long one puts its help on the next line.

A docstring gives its examples as a block that starts with a line ``Examples:`` and has one
``$ pdmail ...`` line each; the older form (``Example: `pdmail x`  ·  `pdmail y` ``) is read too.

A usage error (an unknown option, a missing argument, a value of the wrong kind) is printed like
every other error, one ``Error:`` line, followed by one line that says where the help is.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from pdmail.core.errors import EXIT_INTERRUPTED, EXIT_USAGE

# Options that every command takes, listed apart so that a command's own stand out.
GLOBAL_OPTIONS = {"db", "user", "quiet", "debug", "help", "version", "install_completion", "show_completion"}
NAME_COLUMN = 24  # an option name longer than this puts its help on the next line, never cut
_KINDS = {int: "INTEGER", float: "NUMBER", str: "TEXT", Path: "PATH"}
_EXAMPLES_HEAD = re.compile(r"^\s*Examples?:\s*", re.IGNORECASE)
_BACKTICKED = re.compile(r"`([^`]+)`")


def value_name(param: Any) -> str:
    """What a parameter takes, as help shows it: its metavar, else INTEGER, TEXT, PATH...; '' for a flag."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    metavar = getattr(param, "metavar", None)
    if metavar:
        return metavar.strip("[]")
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    inner = getattr(annotation, "__args__", None)
    if inner and getattr(annotation, "__origin__", None) is list:
        annotation = inner[0]
    if getattr(param, "param_type_name", "") == "argument":
        return (param.name or "").upper()
    return _KINDS.get(annotation, "TEXT") if isinstance(annotation, type) else "TEXT"


def _argument_usage(param: Any) -> str:
    name = value_name(param)
    shown = name if param.required else f"[{name}]"
    return shown + "..." if param.nargs == -1 else shown


def _option_term(param: Any) -> str:
    names = sorted([*param.opts, *param.secondary_opts], key=lambda n: (n.startswith("--"), n))
    term = ", ".join(names)
    kind = value_name(param)
    return f"{term} {kind}" if kind else term


def _option_help(param: Any, ctx: typer.Context) -> str:
    text = " ".join((param.help or "").split())
    extras = []
    default = param.default
    shown = getattr(param, "show_default", True)
    if shown is not False and not getattr(param, "is_flag", False) and default not in (None, "", [], ()):
        extras.append(f"default: {shown if isinstance(shown, str) else default}")
    if getattr(param, "envvar", None) and getattr(param, "show_envvar", True):
        extras.append(f"env: {param.envvar}")
    if param.required:
        extras.append("required")
    return f"{text}  [{'; '.join(extras)}]" if extras else text


def split_help(text: str) -> tuple[list[str], list[str]]:
    """A docstring's description paragraphs, and its examples (each a command line, comments kept)."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text or "") if p.strip()]
    description: list[str] = []
    examples: list[str] = []
    in_examples = False
    for paragraph in paragraphs:
        lines = [line.strip() for line in paragraph.splitlines()]
        if _EXAMPLES_HEAD.match(lines[0]):
            in_examples = True
            rest = _EXAMPLES_HEAD.sub("", lines[0])
            lines = ([rest] if rest else []) + lines[1:]
        elif not (in_examples and (lines[0].startswith("$ ") or lines[0].startswith("`"))):
            in_examples = False
        if not in_examples:
            description.append(" ".join(lines))
            continue
        for line in lines:
            examples += _examples_in(line)
    return description, examples


def _examples_in(line: str) -> list[str]:
    if line.startswith("$ "):
        return [line[2:].strip()]
    found = _BACKTICKED.findall(line)
    if len(found) == 1 and line.startswith("`"):  # `cmd` (what it is for): the words become a comment
        comment = line[line.index("`", 1) + 1 :].strip(" .()")
        return [f"{found[0]}   # {comment}" if comment else found[0]]
    return found


def _sections(ctx: typer.Context, params: list[Any]) -> tuple[list, list]:
    own: list[tuple[str, str]] = []
    shared: list[tuple[str, str]] = []
    for param in params:
        if param.param_type_name != "option" or getattr(param, "hidden", False):
            continue
        is_global = param.name in GLOBAL_OPTIONS or ctx.parent is None  # the app's own options are all global
        (shared if is_global else own).append((_option_term(param), _option_help(param, ctx)))
    return own, shared


def format_help(command: Any, ctx: typer.Context, formatter: Any) -> None:
    """The whole help of ``command``: usage, description, options, commands, examples."""
    params = command.get_params(ctx)
    arguments = [p for p in params if p.param_type_name == "argument"]
    pieces = ["[OPTIONS]", *(_argument_usage(p) for p in arguments)]
    if isinstance(command, typer.core.TyperGroup):
        pieces.append("COMMAND [ARGS]..." if not command.invoke_without_command else "[COMMAND [ARGS]...]")
    formatter.write_usage(ctx.command_path, " ".join(pieces))
    description, examples = split_help(command.help or "")
    for paragraph in description:
        formatter.write_paragraph()
        with formatter.indentation():
            formatter.write_text(paragraph)
    documented = [(value_name(p), " ".join((getattr(p, "help", None) or "").split())) for p in arguments]
    if any(text for _, text in documented):
        with formatter.section("Arguments"):
            formatter.write_dl(documented, col_max=NAME_COLUMN)
    own, shared = _sections(ctx, params)
    if own:
        with formatter.section("Options"):
            formatter.write_dl(own, col_max=NAME_COLUMN)
    if isinstance(command, typer.core.TyperGroup):
        rows = []
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                rows.append((name, summary(sub)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows, col_max=NAME_COLUMN)
    if shared:
        with formatter.section("Global options" if own else "Options"):
            formatter.write_dl(shared, col_max=NAME_COLUMN)
    if examples:
        with formatter.section("Examples"):
            for example in examples:
                formatter.write(f"{' ' * formatter.current_indent}$ {example}\n")
    if isinstance(command, typer.core.TyperGroup):
        formatter.write_paragraph()
        formatter.write_text(f"Run `{ctx.command_path} COMMAND --help` for a command's options.")


def summary(command: Any) -> str:
    """A command's first line of help for a list of commands, whole (a list wraps it, never cuts it)."""
    first = re.split(r"\n\s*\n", (command.help or "").strip(), maxsplit=1)[0]
    return " ".join((command.short_help or first).split()).rstrip(".")


class HelpCommand(TyperCommand):
    """A command whose help is :func:`format_help`'s, and whose options may take an optional value."""

    def format_help(self, ctx, formatter) -> None:
        format_help(self, ctx, formatter)

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        defaults = getattr(self.callback, "optional_values", None)
        return super().parse_args(ctx, with_optional_values(args, defaults) if defaults else args)


def with_optional_values(args: list[str], defaults: dict[str, str]) -> list[str]:
    """``--awaiting-reply`` written without a value gets its default (``--awaiting-reply=3d``).

    Typer has no option whose value may be left out, so an option named in ``defaults`` that is
    followed by nothing, or by another option, is given its default here, before parsing. Its value
    is still read as usual when it is there (``--awaiting-reply 5d``, ``--awaiting-reply=5d``).
    """
    out: list[str] = []
    for i, arg in enumerate(args):
        if arg == "--":
            return out + args[i:]
        following = args[i + 1] if i + 1 < len(args) else None
        if arg in defaults and (following is None or following.startswith("-")):
            out.append(f"{arg}={defaults[arg]}")
        else:
            out.append(arg)
    return out


class HelpGroup(TyperGroup):
    """A group of commands: the same help, and its commands built as :class:`HelpCommand`."""

    def format_help(self, ctx, formatter) -> None:
        format_help(self, ctx, formatter)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # type: ignore[override]
        """The app's entry: click's own, except how a usage error and a bare `pdmail` end."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

        try:
            done = super().main(args, prog_name, complete_var, False, **extra)
        except NoArgsIsHelpError as asked:  # `pdmail`, `pdmail contact`: the help, and nothing wrong
            sys.stdout.write(asked.ctx.get_help() + "\n")
            sys.exit(0)
        except UsageError as wrong:
            sys.exit(usage_error(wrong))
        except ClickException as wrong:
            sys.stderr.write(f"Error: {wrong.format_message()}\n")
            sys.exit(wrong.exit_code)
        except typer.Abort:
            sys.stderr.write("Interrupted.\n")
            sys.exit(EXIT_INTERRUPTED)
        sys.exit(done if isinstance(done, int) else 0)


def usage_error(wrong: Any) -> int:
    """One ``Error:`` line for a usage error, then where the help is; the exit code (2)."""
    message = " ".join(wrong.format_message().split())
    sys.stderr.write(f"Error: {message[:1].lower() + message[1:]}\n")
    path = wrong.ctx.command_path if wrong.ctx is not None else "pdmail"
    sys.stderr.write(f"Run `{path} --help` to see what it takes.\n")
    return EXIT_USAGE
