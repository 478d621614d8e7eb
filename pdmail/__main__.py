"""Entry point for ``pdmail`` and ``python -m pdmail``."""

from __future__ import annotations


def main() -> None:
    import sys

    from pdmail.cli.fastpath import run as run_fast

    try:
        fast = run_fast(sys.argv[1:])
        if fast is None:
            fast = _plain_read(sys.argv[1:])
        code = _full_command_line() if fast is None else fast
        sys.stdout.flush()  # here, where a closed pipe can still be told apart, not at exit
    except BrokenPipeError:
        from pdmail.cli.terminal import end_on_closed_output, stdout_closed

        if not stdout_closed():
            raise
        code = end_on_closed_output()
    raise SystemExit(code)


def _plain_read(argv: list[str]) -> int | None:
    """`inbox` and `search` in their plainest forms, without Typer; None for any other call."""
    from pdmail.cli import plain_reads

    call = plain_reads.parse_read_call(argv)
    return None if call is None else plain_reads.run(call)


def _full_command_line() -> int | str | None:
    from pdmail.cli.app import run

    try:
        run()
    except SystemExit as done:
        return done.code
    return 0


if __name__ == "__main__":
    main()
