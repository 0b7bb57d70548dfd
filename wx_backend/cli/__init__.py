"""The ``wx-backend`` command: ``main`` builds the group; one module per command group."""
