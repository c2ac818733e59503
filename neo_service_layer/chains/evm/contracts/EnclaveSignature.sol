// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title EnclaveSignature: recover the signer of a 65-byte r || s || v secp256k1 signature, strictly.
/// @dev v must be 27 or 28 and s at most n/2 (EIP-2 low-s, as OpenZeppelin ECDSA.tryRecover): without the
///      s check, (r, n - s, v ^ 1) is a second valid signature of the same digest. The digest is signed as is
///      (no EIP-191 prefix); it starts with a domain tag, chain id and contract address (docs/chains-evm.md).
library EnclaveSignature {
    /// The signature is malformed, malleable (high s) or does not recover to an address.
    error InvalidSignature();

    uint256 internal constant SIGNATURE_SIZE = 65;
    /// secp256k1 n / 2 (SEC 2 section 2.4.1).
    uint256 internal constant HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    /// @notice The address that signed digest; reverts InvalidSignature for any malformed signature.
    function recover(bytes32 digest, bytes calldata signature) internal pure returns (address signer) {
        if (signature.length != SIGNATURE_SIZE) revert InvalidSignature();
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (uint256(s) > HALF_N || (v != 27 && v != 28)) revert InvalidSignature();
        signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) revert InvalidSignature();
    }
}
