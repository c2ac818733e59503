"""Fixtures on a real local chain: the session's anvil and deployment (tests/chains/conftest.py, shared
with the tests that use both chain families), an EVM snapshot reverted after every test so each starts
from the same state, under the names the EVM tests use.
"""

from __future__ import annotations

import pytest

from tests.chains.evm.feed_helpers import Feed, trust_test_signer
from tests.chains.evm.flows import Nsl
from tests.chains.evm.fulfil_helpers import Platform


@pytest.fixture
def nsl(evm_nsl: Nsl) -> Nsl:
    """The session deployment, reset after the test (``evm_nsl``, tests/chains/conftest.py)."""
    return evm_nsl


@pytest.fixture
def platform(evm_platform: Platform) -> Platform:
    """The test gateway registered with a real enclave's keys and a real database (``evm_platform``)."""
    return evm_platform


@pytest.fixture
def feed(platform: Platform) -> Feed:
    """The platform publishing to the NEO / USD ``NSLPriceFeed``, the gateway trusting ``nsl.enclave`` for
    price reports (``Feed.report`` signs with it)."""
    return trust_test_signer(platform)
