"""``nsl devnet``: a local Neo N3 chain (neo-go) and EVM chain (anvil) with the NSL contracts deployed.

The chain side: ``stack`` (status and down, without the chain libraries), ``state``
(``<data_dir>/devnet/state.json``), ``config_file`` (the NSL TOML file), ``processes`` (detached chain
processes, by pid), ``local_chain`` (the node process lifecycle anvil and neo-go share: ``EvmDevnet``
and ``N3Devnet`` build on it), ``errors``. Starting and deploying with the platform's keys needs the
services, a layer above the chains: that is ``neo_service_layer.devnet`` (``up``, ``platform``).
Described in docs/chains-neo-n3.md and README.md.
"""

#: Seconds between EVM blocks once deployed (0: a block per transaction, anvil's automine). Here, not in
#: ``up``, so that the CLI can show it without importing the chain libraries.
DEFAULT_EVM_BLOCK_TIME_SECONDS = 1
