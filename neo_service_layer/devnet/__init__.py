"""``nsl devnet up``: the platform on local chains, above ``chains.devnet`` and the services.

``up`` (start both chains, deploy, fund, record) and ``platform`` (the enclave, deploying with the
platform's keys; shared with ``bench/fulfilment.py``). They need the services (the system account, the
platform's keys), so they sit beside ``api`` and ``worker``, not in ``chains``, which the services import
(the layers contract in pyproject.toml).
"""
