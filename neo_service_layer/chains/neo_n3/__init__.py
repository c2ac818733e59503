"""Neo N3: local neo-go devnet, neo3-boa contracts (gateway + example consumers), build, deploy, messages.

- :mod:`.devnet` runs a single-validator neo-go private net (1 s blocks, in-memory chain);
- :mod:`.build` compiles ``contracts/*.py`` with neo3-boa into ``build/neo_n3/``, cached by source hash;
- :mod:`.deploy` deploys and configures the contracts with neo-mamba in one transaction;
- :mod:`.messages` builds the fulfilment message, VRF input and result encodings (pure, no I/O).

Contract semantics and formats: ``docs/chains-neo-n3.md``.
"""
