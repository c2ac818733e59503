"""The price feed's pure enclave modules: exchange adapters, source specs, aggregation, the decision."""
