"""Entry point for ``pdmail`` and ``python -m pdmail``."""

from __future__ import annotations


def main() -> None:
    from pdmail.cli import run

    run()


if __name__ == "__main__":
    main()
