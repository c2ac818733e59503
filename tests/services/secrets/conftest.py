"""Secrets fixtures: two accounts on the real database."""

from __future__ import annotations

import pytest

from neo_service_layer.db.models import Account
from neo_service_layer.db.session import Database
from tests.services.secrets.helpers import ACME, GLOBEX


@pytest.fixture
async def accounts(db: Database) -> None:
    async with db.transaction() as session:
        session.add_all([Account(id=ACME, name="acme"), Account(id=GLOBEX, name="globex")])
