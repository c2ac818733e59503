"""Secrets as the host stores them, written through the in-process enclave's own ops (for the tests of
the functions ops, which take the stored records of a function's granted secrets)."""

from __future__ import annotations

from neo_service_layer.client.secrets import seal_secret_value
from neo_service_layer.enclave.canonical import b64encode
from neo_service_layer.enclave.client import UnixEnclaveClient
from neo_service_layer.enclave.opdefs.secrets import ENCRYPT, EncryptArgs, StoredVersion


async def stored_secret(
    enclave: UnixEnclaveClient, account: str, name: str, value: str, hosts: list[str], n: int
) -> StoredVersion:
    """A secret version written through the enclave (sealed to its transport key), as the host stores it."""
    report = await enclave.attest()
    amk = await enclave.amk_create(account, 1)
    sealed = seal_secret_value(
        report, account, name, value.encode(), cas=0, allowed_hosts=hosts, allow_software=True
    )
    amk_record = {"version": 1, "sealed": b64encode(amk.sealed)}
    encrypted = await enclave.run(
        ENCRYPT,
        EncryptArgs.model_validate(
            {
                "account_id": account,
                "secret_id": f"sec_{n}",
                "name": name,
                "version": 1,
                "amk": amk_record,
                "sealed_value": sealed,
            },
            strict=False,
        ),
    )
    return StoredVersion.model_validate(
        {
            "secret_id": f"sec_{n}",
            "name": name,
            "version": 1,
            "ciphertext": b64encode(encrypted.ciphertext),
            "wrapped_dek": b64encode(encrypted.wrapped_dek),
            "amk": amk_record,
            "allowed_hosts": encrypted.allowed_hosts,
        },
        strict=False,
    )
