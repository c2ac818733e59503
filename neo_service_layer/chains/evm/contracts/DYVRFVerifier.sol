// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title DYVRF: verify a Dodis-Yampolskiy VRF proof on BLS12-381 with the EIP-2537 precompiles.
/// @notice Scheme (docs/dyvrf.md; Dodis & Yampolskiy, PKC 2005, section 4): pk = sk*G1, x = SHA-256(alpha)
///         with the top two bits cleared, proof pi = (1/(sk + x))*G2, valid iff e(x*G1 + pk, pi) == e(G1, G2),
///         output beta = SHA-256(compressed pi). Points use the EIP-2537 encoding: an Fp element is 16 zero
///         bytes || 48-byte big-endian value, G1 = x || y (128 bytes), G2 = x.c0 || x.c1 || y.c0 || y.c1 (256).
/// @dev Needs Prague (EIP-2537). Before Prague the precompile addresses are empty accounts: a STATICCALL to
///      them succeeds and returns nothing, so every call checks RETURNDATASIZE and reverts with
///      PrecompileFailed instead of reading stale memory (measured: an unchecked verifier accepted every
///      input on a Cancun chain). Each call forwards a fixed gas amount because a failing precompile burns
///      all the gas it was given. The generators and -G1 are constants, never taken from the caller.
library DYVRF {
    /// A precompile call failed, returned the wrong size (pre-Prague chain) or rejected an encoding.
    error PrecompileFailed(address precompile);
    /// The public key or proof bytes have the wrong length.
    error BadEncodingLength(uint256 expected, uint256 actual);

    // Precompile addresses as numbers: inline assembly only reads number constants.
    uint256 internal constant G1ADD = 0x0b;
    uint256 internal constant G1MSM = 0x0c;
    uint256 internal constant PAIRING_CHECK = 0x0f;

    // EIP-2537 prices: G1MSM (k = 1) 12,000, G1ADD 375, PAIRING_CHECK 32,600*k + 37,700 = 102,900 (k = 2).
    // The margins leave room for a repricing without letting a failing call burn much more.
    uint256 internal constant G1MSM_GAS = 15_000;
    uint256 internal constant G1ADD_GAS = 1_000;
    uint256 internal constant PAIRING_GAS = 120_000;

    uint256 internal constant G1_SIZE = 128;
    uint256 internal constant G2_SIZE = 256;
    /// x is SHA-256 masked to 254 bits: below the group order r, canonical without a reduction.
    uint256 internal constant X_MASK = (1 << 254) - 1;

    // G1 generator (draft-irtf-cfrg-pairing-friendly-curves-11 section 4.2.1), EIP-2537 words.
    uint256 internal constant G1_X_HI = 0x0000000000000000000000000000000017f1d3a73197d7942695638c4fa9ac0f;
    uint256 internal constant G1_X_LO = 0xc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb;
    uint256 internal constant G1_Y_HI = 0x0000000000000000000000000000000008b3f481e3aaa0f1a09e30ed741d8ae4;
    uint256 internal constant G1_Y_LO = 0xfcf5e095d5d00af600db18cb2c04b3edd03cc744a2888ae40caa232946c5e7e1;
    // -G1: same x, y = p - y.
    uint256 internal constant NEG_G1_Y_HI = 0x00000000000000000000000000000000114d1d6855d545a8aa7d76c8cf2e21f2;
    uint256 internal constant NEG_G1_Y_LO = 0x67816aef1db507c96655b9d5caac42364e6f38ba0ecb751bad54dcd6b939c2ca;
    // G2 generator: x.c0, x.c1, y.c0, y.c1.
    uint256 internal constant G2_XC0_HI = 0x00000000000000000000000000000000024aa2b2f08f0a91260805272dc51051;
    uint256 internal constant G2_XC0_LO = 0xc6e47ad4fa403b02b4510b647ae3d1770bac0326a805bbefd48056c8c121bdb8;
    uint256 internal constant G2_XC1_HI = 0x0000000000000000000000000000000013e02b6052719f607dacd3a088274f65;
    uint256 internal constant G2_XC1_LO = 0x596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5ac7d055d042b7e;
    uint256 internal constant G2_YC0_HI = 0x000000000000000000000000000000000ce5d527727d6e118cc9cdc6da2e351a;
    uint256 internal constant G2_YC0_LO = 0xadfd9baa8cbdd3a76d429a695160d12c923ac9cc3baca289e193548608b82801;
    uint256 internal constant G2_YC1_HI = 0x000000000000000000000000000000000606c4a02ea734cc32acd2b02bc28b99;
    uint256 internal constant G2_YC1_LO = 0xcb3e287e85a763af267492ab572e99ab3f370d275cec1da1aaa9075ff05f79be;
    // (p - 1) / 2: the ZCash sort flag marks y > (p - 1) / 2.
    uint256 internal constant HALF_P_HI = 0x000000000000000000000000000000000d0088f51cbff34d258dd3db21a5d66b;
    uint256 internal constant HALF_P_LO = 0xb23ba5c279c2895fb39869507b587b120f55ffff58a9ffffdcff7fffffffd555;

    /// @notice x for an input: uint256(SHA-256(alpha)) with the top two bits cleared (docs/dyvrf.md section 1).
    function alphaToScalar(bytes memory alpha) internal pure returns (uint256) {
        return uint256(sha256(alpha)) & X_MASK;
    }

    /// @notice True iff e(x*G1 + pk, pi) == e(G1, G2). Reverts with PrecompileFailed when a precompile is
    ///         missing (pre-Prague) or rejects a point (off the curve, outside the subgroup, bad padding).
    /// @param pk The public key, EIP-2537 G1 (128 bytes). Callers must not take it from an untrusted party.
    /// @param x The scalar (any uint256; the MSM precompile reduces it).
    /// @param pi The proof, EIP-2537 G2 (256 bytes).
    function verify(bytes memory pk, uint256 x, bytes memory pi) internal view returns (bool valid) {
        if (pk.length != G1_SIZE) revert BadEncodingLength(G1_SIZE, pk.length);
        if (pi.length != G2_SIZE) revert BadEncodingLength(G2_SIZE, pi.length);
        uint256 failed;
        assembly ("memory-safe") {
            // Scratch memory past the free memory pointer; nothing is allocated meanwhile.
            let m := mload(0x40)
            // X = x*G1: G1MSM with k = 1 (there is no G1MUL precompile). Input G1 || x, output 128 bytes.
            mstore(m, G1_X_HI)
            mstore(add(m, 0x20), G1_X_LO)
            mstore(add(m, 0x40), G1_Y_HI)
            mstore(add(m, 0x60), G1_Y_LO)
            mstore(add(m, 0x80), x)
            let ok := staticcall(G1MSM_GAS, G1MSM, m, 0xa0, m, 0x80)
            switch and(ok, eq(returndatasize(), 0x80))
            case 0 { failed := G1MSM }
            default {
                // P = X + pk: X is already at m, pk goes after it. Output 128 bytes over X.
                mcopy(add(m, 0x80), add(pk, 0x20), 0x80)
                ok := staticcall(G1ADD_GAS, G1ADD, m, 0x100, m, 0x80)
                switch and(ok, eq(returndatasize(), 0x80))
                case 0 { failed := G1ADD }
                default {
                    // e(P, pi) * e(-G1, G2) == 1: input P || pi || -G1 || G2 (768 bytes), output one word.
                    mcopy(add(m, 0x80), add(pi, 0x20), 0x100)
                    mstore(add(m, 0x180), G1_X_HI)
                    mstore(add(m, 0x1a0), G1_X_LO)
                    mstore(add(m, 0x1c0), NEG_G1_Y_HI)
                    mstore(add(m, 0x1e0), NEG_G1_Y_LO)
                    mstore(add(m, 0x200), G2_XC0_HI)
                    mstore(add(m, 0x220), G2_XC0_LO)
                    mstore(add(m, 0x240), G2_XC1_HI)
                    mstore(add(m, 0x260), G2_XC1_LO)
                    mstore(add(m, 0x280), G2_YC0_HI)
                    mstore(add(m, 0x2a0), G2_YC0_LO)
                    mstore(add(m, 0x2c0), G2_YC1_HI)
                    mstore(add(m, 0x2e0), G2_YC1_LO)
                    ok := staticcall(PAIRING_GAS, PAIRING_CHECK, m, 0x300, m, 0x20)
                    switch and(ok, eq(returndatasize(), 0x20))
                    case 0 { failed := PAIRING_CHECK }
                    default { valid := eq(mload(m), 1) }
                }
            }
        }
        if (failed != 0) revert PrecompileFailed(address(uint160(failed)));
    }

    /// @notice True iff pk is an EIP-2537 G1 point on the curve, in the r-order subgroup and not the identity.
    /// @dev G1MSM by the scalar 1 runs the precompile's curve and subgroup checks and returns pk. A failing
    ///      call means a bad point (false); a successful call with no output means no precompile (revert).
    function isValidPublicKey(bytes memory pk) internal view returns (bool) {
        if (pk.length != G1_SIZE) return false;
        bool ok;
        uint256 size;
        bool nonZero;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mcopy(m, add(pk, 0x20), 0x80)
            mstore(add(m, 0x80), 1)
            ok := staticcall(G1MSM_GAS, G1MSM, m, 0xa0, m, 0x80)
            size := returndatasize()
            nonZero := iszero(iszero(or(or(mload(m), mload(add(m, 0x20))), or(mload(add(m, 0x40)), mload(add(m, 0x60))))))
        }
        if (ok && size != G1_SIZE) revert PrecompileFailed(address(uint160(G1MSM)));
        return ok && nonZero;
    }

    /// @notice beta = SHA-256 of the 96-byte compressed (ZCash) form of pi, the same output as off chain.
    /// @dev Compressed G2 = x.c1 || x.c0 with 0x80 (compressed) and 0x20 (sort: y.c1 > (p-1)/2, or
    ///      y.c1 == 0 and y.c0 > (p-1)/2) on the first byte. Only meaningful for a pi that verify() accepted:
    ///      the pairing precompile has then checked that every coordinate is canonical (< p, zero padding).
    function proofToHash(bytes memory pi) internal pure returns (bytes32) {
        if (pi.length != G2_SIZE) revert BadEncodingLength(G2_SIZE, pi.length);
        bytes memory compressed = new bytes(96);
        assembly ("memory-safe") {
            let p := add(pi, 0x20)
            let c := add(compressed, 0x20)
            let yHi := mload(add(p, 0xc0))
            let yLo := mload(add(p, 0xe0))
            if iszero(or(yHi, yLo)) {
                yHi := mload(add(p, 0x80))
                yLo := mload(add(p, 0xa0))
            }
            let larger := or(gt(yHi, HALF_P_HI), and(eq(yHi, HALF_P_HI), gt(yLo, HALF_P_LO)))
            let flags := or(0x80, mul(larger, 0x20))
            // Each store writes 32 bytes; later stores overwrite the zero tail of the earlier ones.
            mstore(c, or(shl(128, mload(add(p, 0x40))), shl(248, flags))) // x.c1, high 16 bytes + flags
            mstore(add(c, 0x10), mload(add(p, 0x60))) // x.c1, low 32 bytes
            mstore(add(c, 0x30), shl(128, mload(p))) // x.c0, high 16 bytes
            mstore(add(c, 0x40), mload(add(p, 0x20))) // x.c0, low 32 bytes
        }
        return sha256(compressed);
    }
}

/// @title DYVRFVerifier: the DYVRF library as a stateless contract, for auditors and direct checks.
/// @notice It verifies the maths for the key it is given; a contract that acts on the result must use a key
///         it stores itself (NSLGateway does), never one its caller chose.
contract DYVRFVerifier {
    /// @notice See DYVRF.verify.
    function verify(bytes calldata pk, uint256 x, bytes calldata pi) external view returns (bool) {
        return DYVRF.verify(pk, x, pi);
    }

    /// @notice Verify for an input alpha; returns (valid, beta) with beta = 0 when invalid.
    function verifyAlpha(bytes calldata pk, bytes calldata alpha, bytes calldata pi)
        external
        view
        returns (bool valid, bytes32 beta)
    {
        valid = DYVRF.verify(pk, DYVRF.alphaToScalar(alpha), pi);
        if (valid) beta = DYVRF.proofToHash(pi);
    }

    /// @notice See DYVRF.alphaToScalar.
    function alphaToScalar(bytes calldata alpha) external pure returns (uint256) {
        return DYVRF.alphaToScalar(alpha);
    }
}
