"""The ``sentinel-vectors`` command line over :mod:`sentinel_vectors.operations`.

Commands live one module each in :mod:`sentinel_vectors_cli.commands`; the app is
:data:`sentinel_vectors_cli.app.app` (a Typer app), the console script
:func:`sentinel_vectors_cli.app.main`.
"""

__all__: list[str] = []
