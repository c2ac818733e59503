"""``python -m neo_service_layer.enclave``: run the enclave process (see ``main.main``)."""

from __future__ import annotations

from neo_service_layer.enclave.main import main

main()
