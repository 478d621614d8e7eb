"""Entry point for ``pdmail`` and ``python -m pdmail``."""

from __future__ import annotations


def main() -> None:
    import sys

    from pdmail.fastpath import run as run_fast

    code = run_fast(sys.argv[1:])
    if code is not None:
        sys.stdout.flush()
        raise SystemExit(code)
    from pdmail.cli import run

    run()


if __name__ == "__main__":
    main()
