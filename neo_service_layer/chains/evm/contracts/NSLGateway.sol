// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {DYVRF} from "./DYVRFVerifier.sol";
import {EnclaveSignature} from "./EnclaveSignature.sol";
import {INSLGateway} from "./INSLGateway.sol";

/// @title NSLGateway: service requests from contracts, fulfilled with results signed by the NSL enclave.
/// @notice request() stores a request and emits ServiceRequested with a unique id; fulfill() accepts a result
///         only with the registered enclave key's signature, once, then calls the consumer back with bounded
///         gas. A randomness request is pinned at request time to the VRF key version registered then; the
///         enclave's signature covers the request's payload hash, that version and its key's hash, all of
///         which fulfill() takes from storage, so each request has exactly one acceptable result. Results
///         always carry the Dodis-Yampolskiy proof (in the Fulfilled event); in OnchainVerify mode the
///         gateway also checks it against the pinned key, for an input it derives itself from the request.
///         The fee covers the callback's gas at the request's gas price. Formats: docs/chains-evm.md.
contract NSLGateway is INSLGateway {
    bytes32 public constant RANDOMNESS = "randomness";
    /// Upper bound on the gas a consumer may ask for its callback.
    uint32 public constant MAX_GAS_FOR_RESPONSE = 2_500_000;
    /// A randomness result: beta (32 bytes) || pi as an EIP-2537 G2 point (256 bytes).
    uint256 public constant RANDOMNESS_RESULT_SIZE = 288;
    bytes internal constant FULFIL_TAG = "NSL-FULFIL-V2";
    bytes internal constant ALPHA_TAG = "NSL-DYVRF-ALPHA-V1";
    /// Gas kept back around the callback: the opcodes between the gas check and CALL, and the bookkeeping
    /// after it (Chainlink VRFCoordinatorV2.GAS_FOR_CALL_EXACT_CHECK).
    uint256 internal constant CALLBACK_GAS_RESERVE = 5_000;

    enum Status {
        None,
        Pending,
        Fulfilled
    }

    struct Request {
        address requester;
        bytes4 callbackSelector;
        uint32 gasForResponse;
        Mode mode;
        Status status;
        address callbackContract;
        /// The VRF key version current at request time (randomness; 0 for other services).
        uint32 vrfKeyVersion;
        bytes32 service;
        bytes32 payloadHash;
    }

    struct Fee {
        uint128 amount;
        bool offered;
    }

    address public owner;
    address public enclaveSigner;
    /// The attestation measurement (e.g. MRENCLAVE / MRTD digest) of the enclave holding enclaveSigner's key.
    bytes32 public enclaveMeasurement;
    uint32 public enclaveKeyVersion;
    bool public paused;
    /// Number of requests so far; the nonce in each request id.
    uint64 public requestCount;
    /// The current DY-VRF key version: new randomness requests are pinned to it (0 until the owner sets one).
    uint32 public vrfKeyVersion;
    /// Every registered DY-VRF public key (EIP-2537 G1, 128 bytes) by version, kept for pending requests.
    mapping(uint32 => bytes) public vrfPublicKeys;
    /// keccak256 of each version's public key: what the enclave's fulfilment signature covers.
    mapping(uint32 => bytes32) public vrfKeyHashes;
    mapping(bytes32 => Request) internal requests;
    mapping(bytes32 => mapping(Mode => Fee)) internal fees;

    event ServiceRequested(
        bytes32 indexed requestId,
        address indexed requester,
        bytes32 indexed service,
        bytes payload,
        Mode mode,
        address callbackContract,
        bytes4 callbackSelector,
        uint32 gasForResponse,
        uint256 feePaid
    );
    /// callbackSuccess is true iff a callback was made and returned without reverting.
    event Fulfilled(bytes32 indexed requestId, bytes result, bool callbackSuccess, uint32 enclaveKeyVersion);
    event EnclaveKeyRotated(uint32 indexed version, address signer, bytes32 measurement);
    event VrfPublicKeySet(uint32 indexed version, bytes publicKey, bytes32 keyHash);
    event FeeSet(bytes32 indexed service, Mode mode, uint256 amount, bool offered);
    event PauseChanged(bool paused);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event Withdrawn(address indexed to, uint256 amount);
    /// An audit-log checkpoint published by `anchorer` (docs/audit.md): an off-box copy with the chain's
    /// timestamp. Anyone may anchor; verifiers read only the platform's anchorer address.
    event AuditAnchored(address indexed anchorer, uint64 indexed seq, bytes32 checkpointHash);

    error NotOwner(address caller);
    error ZeroAddress();
    error GatewayPaused();
    error ServiceNotOffered(bytes32 service, Mode mode);
    error ModeNotSupported(bytes32 service, Mode mode);
    error InsufficientFee(uint256 required, uint256 paid);
    error CallbackNotRequester(address callbackContract);
    error GasForResponseTooHigh(uint32 requested, uint32 max);
    error UnknownRequest(bytes32 requestId);
    error AlreadyFulfilled(bytes32 requestId);
    error NotEnclaveSigned(address signer);
    error BadResultSize(uint256 expected, uint256 actual);
    error VrfPublicKeyNotSet();
    error InvalidVrfPublicKey();
    error VrfKeyVersionNotNewer(uint32 version, uint32 current);
    error InvalidProof();
    error OutputMismatch(bytes32 expected, bytes32 claimed);
    error InsufficientGasForCallback();
    error WithdrawFailed();

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    constructor(address signer, bytes32 measurement) {
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
        _setEnclave(signer, measurement);
    }

    // --- requests --------------------------------------------------------------------------------------

    /// @inheritdoc INSLGateway
    function request(
        bytes32 service,
        bytes calldata payload,
        address callbackContract,
        bytes4 callbackSelector,
        uint32 gasForResponse,
        Mode mode
    ) external payable override returns (bytes32 requestId) {
        if (paused) revert GatewayPaused();
        Fee memory f = fees[service][mode];
        if (!f.offered) revert ServiceNotOffered(service, mode);
        // Only the requester may be called back: otherwise anyone could make the gateway deliver results
        // the victim never asked for to a callback that trusts msg.sender == gateway.
        if (callbackContract != address(0) && callbackContract != msg.sender) {
            revert CallbackNotRequester(callbackContract);
        }
        if (gasForResponse > MAX_GAS_FOR_RESPONSE) revert GasForResponseTooHigh(gasForResponse, MAX_GAS_FOR_RESPONSE);
        // The relayer pays for the callback's gas: the request pays for it too, at its own gas price, so a
        // consumer asking for a large callback budget cannot make the relayer spend what it did not pay.
        uint256 price = uint256(f.amount) + uint256(gasForResponse) * tx.gasprice;
        if (msg.value < price) revert InsufficientFee(price, msg.value);
        uint32 keyVersion;
        if (service == RANDOMNESS) {
            keyVersion = vrfKeyVersion;
            if (keyVersion == 0) revert VrfPublicKeyNotSet();
        }
        uint64 nonce = ++requestCount;
        requestId = keccak256(abi.encode(block.chainid, address(this), nonce, msg.sender));
        requests[requestId] = Request({
            requester: msg.sender,
            callbackSelector: callbackSelector,
            gasForResponse: gasForResponse,
            mode: mode,
            status: Status.Pending,
            callbackContract: callbackContract,
            vrfKeyVersion: keyVersion,
            service: service,
            payloadHash: keccak256(payload)
        });
        emit ServiceRequested(
            requestId, msg.sender, service, payload, mode, callbackContract, callbackSelector, gasForResponse, msg.value
        );
    }

    /// @notice Deliver a result. Anyone may relay it; only the enclave key's signature makes it valid.
    /// @param requestId A pending request's id (unknown: UnknownRequest; done: AlreadyFulfilled).
    /// @param result The service result (randomness: beta || pi, RANDOMNESS_RESULT_SIZE bytes).
    /// @param signature 65-byte r || s || v (v 27/28, low s) by enclaveSigner over fulfilmentDigest.
    function fulfill(bytes32 requestId, bytes calldata result, bytes calldata signature) external {
        if (paused) revert GatewayPaused();
        Request storage r = requests[requestId];
        if (r.status == Status.None) revert UnknownRequest(requestId);
        if (r.status == Status.Fulfilled) revert AlreadyFulfilled(requestId);
        address signer = EnclaveSignature.recover(_digest(requestId, r, keccak256(result)), signature);
        if (signer != enclaveSigner) revert NotEnclaveSigned(signer);
        if (r.service == RANDOMNESS) {
            if (result.length != RANDOMNESS_RESULT_SIZE) {
                revert BadResultSize(RANDOMNESS_RESULT_SIZE, result.length);
            }
            if (r.mode == Mode.OnchainVerify) _verifyRandomness(requestId, r, result);
        }
        // Marked before the callback: a reentrant fulfill of the same id finds it fulfilled.
        r.status = Status.Fulfilled;
        bool ok;
        if (r.callbackContract != address(0)) {
            ok = _callWithExactGas(
                r.gasForResponse, r.callbackContract, abi.encodeWithSelector(r.callbackSelector, requestId, result)
            );
        }
        emit Fulfilled(requestId, result, ok, enclaveKeyVersion);
    }

    /// @notice The digest the enclave signs for a result of a stored request:
    ///         keccak256("NSL-FULFIL-V2" || chainid (32) || gateway (20) || requestId (32) || payloadHash (32)
    ///         || vrfKeyVersion (4) || vrfKeyHash (32) || resultHash (32)), all but resultHash from storage
    ///         (vrfKeyHash: of the request's pinned key version; zero when it has none).
    function fulfilmentDigest(bytes32 requestId, bytes32 resultHash) external view returns (bytes32) {
        Request storage r = requests[requestId];
        if (r.status == Status.None) revert UnknownRequest(requestId);
        return _digest(requestId, r, resultHash);
    }

    /// @inheritdoc INSLGateway
    function requestPrice(bytes32 service, Mode mode, uint32 gasForResponse, uint256 gasPrice)
        external
        view
        override
        returns (uint256)
    {
        Fee memory f = fees[service][mode];
        if (!f.offered) revert ServiceNotOffered(service, mode);
        return uint256(f.amount) + uint256(gasForResponse) * gasPrice;
    }

    /// @notice The VRF input of a request:
    ///         "NSL-DYVRF-ALPHA-V1" || chainid (32) || gateway (20) || requestId (32) || keccak256(payload).
    function randomnessAlpha(bytes32 requestId) external view returns (bytes memory) {
        Request storage r = requests[requestId];
        if (r.status == Status.None) revert UnknownRequest(requestId);
        return _alpha(requestId, r.payloadHash);
    }

    /// @notice The current DY-VRF public key (EIP-2537 G1; empty until the owner sets one).
    function vrfPublicKey() external view returns (bytes memory) {
        return vrfPublicKeys[vrfKeyVersion];
    }

    /// @notice The stored request (status None for an unknown id).
    function getRequest(bytes32 requestId) external view returns (Request memory) {
        return requests[requestId];
    }

    /// @inheritdoc INSLGateway
    function fee(bytes32 service, Mode mode) external view override returns (uint256) {
        Fee memory f = fees[service][mode];
        if (!f.offered) revert ServiceNotOffered(service, mode);
        return f.amount;
    }

    /// @notice Publish the hash of an audit-log checkpoint covering entries 1..seq (event only, no state).
    function anchorAudit(uint64 seq, bytes32 checkpointHash) external {
        emit AuditAnchored(msg.sender, seq, checkpointHash);
    }

    // --- administration --------------------------------------------------------------------------------

    /// @notice Rotate the enclave key: results signed by the previous key are refused from now on.
    /// @param measurement The attestation measurement of the enclave that holds the new key, kept on record.
    function setEnclave(address signer, bytes32 measurement) external onlyOwner {
        _setEnclave(signer, measurement);
    }

    /// @notice Register a DY-VRF public key (EIP-2537 G1, 128 bytes) under `version`, which becomes current:
    ///         randomness requests from now on are pinned to it. Versions only grow and are never
    ///         overwritten, so pending requests keep the key they were made under (the platform derives
    ///         version v of its key inside the enclave: register its key under the same number).
    /// @dev Checked once here: G1MSM by 1 fails for a point off the curve or outside the subgroup, and the
    ///      identity is refused (with pk = O anyone can compute pi = (1/x)*G2). Needs Prague.
    function setVrfPublicKey(uint32 version, bytes calldata publicKey) external onlyOwner {
        if (version <= vrfKeyVersion) revert VrfKeyVersionNotNewer(version, vrfKeyVersion);
        if (!DYVRF.isValidPublicKey(publicKey)) revert InvalidVrfPublicKey();
        bytes32 keyHash = keccak256(publicKey);
        vrfPublicKeys[version] = publicKey;
        vrfKeyHashes[version] = keyHash;
        vrfKeyVersion = version;
        emit VrfPublicKeySet(version, publicKey, keyHash);
    }

    /// @notice Offer (or withdraw) a service in a mode at a fee in wei.
    function setFee(bytes32 service, Mode mode, uint128 amount, bool offered) external onlyOwner {
        if (mode == Mode.OnchainVerify && service != RANDOMNESS) revert ModeNotSupported(service, mode);
        fees[service][mode] = Fee({amount: amount, offered: offered});
        emit FeeSet(service, mode, amount, offered);
    }

    /// @notice Stop (true) or resume (false) requests, fulfilments and price reports.
    function setPaused(bool value) external onlyOwner {
        paused = value;
        emit PauseChanged(value);
    }

    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    /// @notice Send collected fees to `to`.
    function withdraw(address payable to, uint256 amount) external onlyOwner {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert WithdrawFailed();
        emit Withdrawn(to, amount);
    }

    // --- internals -------------------------------------------------------------------------------------

    function _setEnclave(address signer, bytes32 measurement) internal {
        // A zero signer would match ecrecover's failure value in careless code; refuse it outright.
        if (signer == address(0)) revert ZeroAddress();
        enclaveSigner = signer;
        enclaveMeasurement = measurement;
        emit EnclaveKeyRotated(++enclaveKeyVersion, signer, measurement);
    }

    function _digest(bytes32 requestId, Request storage r, bytes32 resultHash) internal view returns (bytes32) {
        uint32 keyVersion = r.vrfKeyVersion;
        return keccak256(
            abi.encodePacked(
                FULFIL_TAG,
                block.chainid,
                address(this),
                requestId,
                r.payloadHash,
                keyVersion,
                keyVersion == 0 ? bytes32(0) : vrfKeyHashes[keyVersion],
                resultHash
            )
        );
    }

    function _alpha(bytes32 requestId, bytes32 payloadHash) internal view returns (bytes memory) {
        return abi.encodePacked(ALPHA_TAG, block.chainid, address(this), requestId, payloadHash);
    }

    /// Check pi against the request's pinned key for x derived here from the request, and beta = proofToHash(pi).
    function _verifyRandomness(bytes32 requestId, Request storage r, bytes calldata result) internal view {
        bytes memory pk = vrfPublicKeys[r.vrfKeyVersion];
        bytes memory pi = result[32:RANDOMNESS_RESULT_SIZE];
        if (!DYVRF.verify(pk, DYVRF.alphaToScalar(_alpha(requestId, r.payloadHash)), pi)) revert InvalidProof();
        bytes32 beta = DYVRF.proofToHash(pi);
        bytes32 claimed = bytes32(result[0:32]);
        if (beta != claimed) revert OutputMismatch(beta, claimed);
    }

    /// Call target with exactly gasAmount gas, or revert if that much cannot be forwarded: a relayer must not
    /// be able to starve the callback, make it fail and still mark the request fulfilled (Chainlink
    /// VRFCoordinatorV2.callWithExactGas; EIP-150 passes at most 63/64 of the remaining gas).
    function _callWithExactGas(uint256 gasAmount, address target, bytes memory data) internal returns (bool success) {
        if (target.code.length == 0) return false;
        bool enough;
        assembly ("memory-safe") {
            let g := gas()
            if gt(g, CALLBACK_GAS_RESERVE) {
                g := sub(g, CALLBACK_GAS_RESERVE)
                enough := gt(sub(g, div(g, 64)), gasAmount)
            }
            if enough { success := call(gasAmount, target, 0, add(data, 0x20), mload(data), 0, 0) }
        }
        if (!enough) revert InsufficientGasForCallback();
    }
}
