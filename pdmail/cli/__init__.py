"""The ``pdmail`` command line: options in, one library call, output out.

The Typer app is in ``pdmail.cli.app``. This package itself imports nothing, so that the piped single
message path (``fastpath``), the terminal cleaning (``terminal``) and the BCC report (``bcc_report``)
load without the command-line toolkit.
"""
