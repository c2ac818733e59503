"""The enclave as a Neo N3 native oracle node (docs/oracle.md §9; ops: ``opdefs/n3_oracle.py``).

``chains.n3_oracle_response`` answers one request of the native OracleContract as a neo-go oracle
node does (``pkg/services/oracle/request.go`` ``processRequest``):

1. fetch the request's URL and apply its filter with the oracle core every oracle op shares
   (:func:`handlers.oracle.answer`: one source, GET, neo-go's status and content-type codes, the N3
   JSONPath filter byte-exact with neo-go; a null filter leaves the body as it is). neo-go also refuses
   a body that is not UTF-8 when there is no filter (``readResponse`` → ``checkUTF8``), so it is an
   ``Error`` here too;
2. build the response transaction exactly as ``CreateResponseTx`` does (``crypto/n3_oracle_tx.py``),
   so that every node — neo-go ones included — builds the same bytes and their signatures combine;
3. sign ``magic ‖ SHA-256(unsigned tx)`` (neo-go ``hash.NetSha256``) with the enclave's N3 oracle key
   (``enclave/n3_oracle_key.py``), which must be one of the designated nodes.

With one designated node (``m = 1``) the signature completes the multisig witness and the result holds
the whole transaction, ready for ``sendrawtransaction``. With several, the result carries the signature
and ``message_signature``, what another node's ``submitoracleresponse`` RPC takes to count it
(``chains/neo_n3/native_oracle.py`` sends them; the node that gathers m signatures broadcasts).
"""

from __future__ import annotations

import hashlib
from typing import Final

from neo_service_layer.enclave.context import EnclaveContext
from neo_service_layer.enclave.crypto import n3_oracle_tx, neo, signing
from neo_service_layer.enclave.crypto.keytypes import HashAlgorithm, KeyType, SignatureFormat
from neo_service_layer.enclave.handlers.oracle import OracleQuery, answer
from neo_service_layer.enclave.n3_oracle_key import n3_oracle_material, n3_oracle_public_key
from neo_service_layer.enclave.opdefs.n3_oracle import (
    N3_ORACLE_PUBLIC_KEY,
    N3_ORACLE_RESPONSE,
    N3OraclePublicKeyResult,
    N3OracleResponseArgs,
    N3OracleResponseResult,
    N3OracleVariant,
)
from neo_service_layer.enclave.opdefs.oracle import Source
from neo_service_layer.enclave.ops import OpRegistry
from neo_service_layer.enclave.oracle.codes import OracleCode
from neo_service_layer.enclave.protocol import InvalidArgs
from neo_service_layer.enclave.schemas import NoArgs

registry = OpRegistry()

#: Native requests carry no NSL account: no secrets can be granted to them.
NATIVE_ORACLE_ACCOUNT: Final = "n3-native-oracle"
NEOFS_SCHEME: Final = "neofs"  # neo-go pkg/services/helpers/neofs URIScheme
# neo-go sends a JSON Content-Type with its oracle GETs (request.go); servers that branch on it answer
# NSL as they answer neo-go. The User-Agent stays NSL's own: the node says who it is.
NATIVE_REQUEST_HEADERS: Final = {"Content-Type": "application/json"}


@registry.handler(N3_ORACLE_PUBLIC_KEY)
async def n3_oracle_public_key_op(ctx: EnclaveContext, args: NoArgs) -> N3OraclePublicKeyResult:
    """The enclave's N3 oracle key, to designate for the Oracle role."""
    public = n3_oracle_public_key(ctx.identity)
    return N3OraclePublicKeyResult(
        public_key=public, script_hash=neo.script_hash_hex(public), address=neo.address(public)
    )


async def _fetch(ctx: EnclaveContext, args: N3OracleResponseArgs) -> tuple[OracleCode, bytes, str]:
    scheme = args.url.partition(":")[0].lower() if ":" in args.url else ""
    if not args.url:  # ParseRequestURI("") fails
        return OracleCode.ProtocolNotSupported, b"", "the URL is empty"
    if scheme == NEOFS_SCHEME:
        # neo-go answers neofs: URLs from NeoFS nodes, and with none configured (NeoFS off) with Error.
        return OracleCode.Error, b"", "NeoFS URLs are not served"
    source = Source(url=args.url, headers=NATIVE_REQUEST_HEADERS)
    query = OracleQuery(account_id=NATIVE_ORACLE_ACCOUNT, sources=[source], filter=args.filter)
    try:
        got = await answer(ctx, query)
    except InvalidArgs as e:
        # A URL the core refuses before any request (no host, a {{secrets.*}} placeholder: a native
        # request has no grants). neo-go: a URL ParseRequestURI refuses, or another scheme, is
        # ProtocolNotSupported; an https URL its client cannot use is Error (request.go).
        code = OracleCode.Error if scheme == "https" else OracleCode.ProtocolNotSupported
        return code, b"", str(e)
    code, result, detail = got.code, got.result, got.detail
    if code is OracleCode.Success and args.filter is None:
        try:
            result.decode("utf-8")
        except UnicodeDecodeError:
            code, result, detail = OracleCode.Error, b"", "the body is not UTF-8"
    return code, result, detail


def _sign(material: bytes, data: bytes) -> bytes:
    """ECDSA-P256 over SHA-256 of ``data``, raw r ‖ s (neo-go ``keys.PrivateKey.Sign``)."""
    return signing.sign(
        KeyType.SECP256R1, material, data, hash_alg=HashAlgorithm.SHA256, fmt=SignatureFormat.RAW
    )


@registry.handler(N3_ORACLE_RESPONSE)
async def n3_oracle_response(ctx: EnclaveContext, args: N3OracleResponseArgs) -> N3OracleResponseResult:
    """Fetch, filter, build and sign the response transaction of one native oracle request."""
    public = n3_oracle_public_key(ctx.identity)
    nodes = list(args.oracle_nodes)
    if public not in nodes:
        raise InvalidArgs("the enclave's N3 oracle key is not among the designated oracle nodes")
    code, result, detail = await _fetch(ctx, args)
    fees = n3_oracle_tx.FeeParams(args.exec_fee_factor_pico, args.fee_per_byte)
    material = n3_oracle_material(ctx.identity)

    def signed(vub: int) -> tuple[n3_oracle_tx.ResponseTx, bytes, bytes, bytes]:
        tx = n3_oracle_tx.build_response_tx(
            request_id=args.request_id,
            code=code,
            result=result,
            gas_for_response=args.gas_for_response,
            valid_until_block=vub,
            oracle_nodes=nodes,
            fees=fees,
        )
        tx_hash = hashlib.sha256(tx.unsigned).digest()
        signature = _sign(material, args.network_magic.to_bytes(4, "little") + tx_hash)
        # What another node's submitoracleresponse checks before it takes the signature (neo-go
        # pkg/services/oracle/broadcaster GetMessage: key ‖ uint64le(id) ‖ tx signature).
        message = public + args.request_id.to_bytes(8, "little") + signature
        return tx, tx_hash, signature, _sign(material, message)

    tx, tx_hash, signature, message_signature = signed(args.valid_until_block)
    variants = []
    for vub in args.extra_valid_until_blocks:
        _, other_hash, other_signature, other_message = signed(vub)
        variants.append(
            N3OracleVariant(
                valid_until_block=vub,
                tx_hash="0x" + other_hash[::-1].hex(),
                signature=other_signature,
                message_signature=other_message,
            )
        )
    complete = n3_oracle_tx.signed_transaction(tx, [signature]) if tx.signatures_needed == 1 else None
    return N3OracleResponseResult(
        request_id=args.request_id,
        code=tx.code.name,
        result=tx.result,
        detail=detail if tx.code is code else "gasForResponse does not cover the network fee",
        tx_hash="0x" + tx_hash[::-1].hex(),
        unsigned_transaction=tx.unsigned,
        transaction=complete,
        signature=signature,
        message_signature=message_signature,
        public_key=public,
        system_fee=tx.system_fee,
        network_fee=tx.network_fee,
        variants=variants,
    )
