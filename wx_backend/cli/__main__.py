"""``python -m wx_backend.cli``: the same as the ``wx-backend`` command."""

from wx_backend.cli.main import main

main()
