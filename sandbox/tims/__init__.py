"""The TIMS ERP emulator: the REST contract in ``connectors/tims/openapi.yaml``, served at
``/sandbox/tims/<site>/`` (``oauth/token`` and ``api/v1/...``). See :mod:`sandbox.tims.services`."""
