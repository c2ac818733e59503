"""The oracle service: web data for contracts and dApps, fetched, filtered and signed in the enclave."""
