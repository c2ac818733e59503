"""EVM chains (Neo X and other EVM networks): toolchain, local devnet, Solidity contracts, build, deploy.

- :mod:`.toolchain` finds anvil and solc-js under ``node_modules`` (installed by ``make setup``);
- :mod:`.build` compiles ``contracts/*.sol`` with solc-js (standard JSON), cached by source hash;
- :mod:`.devnet` runs a local anvil chain (Prague: EIP-2537 BLS12-381 precompiles);
- :mod:`.deploy` deploys the NSL contracts with web3.py; :mod:`.tx` sends and checks transactions;
- :mod:`.messages` builds the digests the enclave signs and the VRF input (pure, no I/O).

Contract semantics and formats: ``docs/chains-evm.md``.
"""
