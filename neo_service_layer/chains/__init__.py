"""Chain adapters: Neo N3 (neo-mamba, neo-go devnet, neo3-boa) and EVM (web3.py, anvil, Solidity)."""
