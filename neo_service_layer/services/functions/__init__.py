"""The functions service (issue 16): deploy, version and run user JavaScript in the enclave."""
