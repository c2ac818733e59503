// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {AggregatorV3Interface} from "./AggregatorV3Interface.sol";
import {EnclaveSignature} from "./EnclaveSignature.sol";
import {INSLGateway} from "./INSLGateway.sol";

/// The gateway's owner, who owns its feeds too (NSLGateway.owner; not part of the consumers' INSLGateway).
interface IOwned {
    function owner() external view returns (address);
}

/// @title NSLPriceFeed: one price pair as a Chainlink AggregatorV3Interface, written by enclave-signed reports.
/// @notice Anyone may relay a report (transmit); it is accepted only if the gateway's current enclave key
///         signed it under the feed's registered configHash, its round id is the next one, and its
///         observation time is after the previous round's and not in the future. startedAt = updatedAt =
///         the enclave's observation time, so a consumer's staleness check measures the age of the price,
///         not of the relaying transaction.
/// @dev configHash is the SHA-256 of the feed's aggregation rules (sources, quorum, spread, outlier
///      rule, quote age, decimals: docs/pricefeed.md "Trust"), registered by the gateway's owner. The
///      enclave signs the hash of the rules it applied; transmit rebuilds the digest with the STORED hash,
///      so a price observed under rules a compromised host rewrote (its own server as a source) is refused.
contract NSLPriceFeed is AggregatorV3Interface {
    /// Report format version; part of the digest tag.
    uint256 public constant VERSION = 2;
    bytes internal constant REPORT_TAG = "NSL-PRICE-V2";

    struct Round {
        int256 answer;
        uint64 observedAt;
    }

    /// The gateway whose enclave signer and pause switch this feed follows.
    INSLGateway public immutable gateway;
    uint8 public immutable override decimals;
    string public override description;
    /// The last round written; 0 before the first report.
    uint80 public latestRound;
    /// SHA-256 of the aggregation rules reports must have been observed under; 0 = none (transmit refuses).
    bytes32 public configHash;
    mapping(uint80 => Round) internal rounds;

    /// Chainlink's AggregatorInterface event, so existing indexers see the updates.
    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);
    event ConfigHashSet(bytes32 indexed previous, bytes32 indexed current);

    error NoDataPresent();
    error UnexpectedRound(uint80 expected, uint80 got);
    error InvalidObservationTime(uint64 previous, uint64 got);
    error NotEnclaveSigned(address signer);
    error GatewayPaused();
    error ConfigNotSet();
    error NotOwner(address caller);

    constructor(INSLGateway gateway_, uint8 decimals_, string memory description_) {
        gateway = gateway_;
        decimals = decimals_;
        description = description_;
    }

    /// @notice The owner of the gateway, who alone may set the configHash (ownership follows the gateway's).
    function owner() public view returns (address) {
        return IOwned(address(gateway)).owner();
    }

    /// @notice Register the hash of the rules reports must be observed under (`nsl feeds config-hash PAIR`).
    ///         A new hash takes effect at once: reports signed under the old rules are refused from now on.
    function setConfigHash(bytes32 configHash_) external {
        if (msg.sender != owner()) revert NotOwner(msg.sender);
        emit ConfigHashSet(configHash, configHash_);
        configHash = configHash_;
    }

    /// @notice The digest the enclave signs for a report observed under `configHash_`
    ///         (see messages.price_report_digest in Python); transmit uses the stored configHash.
    function reportDigest(uint80 roundId, int256 answer, uint64 observedAt, bytes32 configHash_)
        public
        view
        returns (bytes32)
    {
        return keccak256(
            abi.encodePacked(REPORT_TAG, block.chainid, address(this), roundId, answer, observedAt, configHash_)
        );
    }

    /// @notice Record the next round from an enclave-signed report.
    /// @param roundId Must be latestRound + 1 (reports cannot be replayed, skipped or reordered).
    /// @param answer The price with `decimals` decimals.
    /// @param observedAt Unix time the enclave observed the price: after the previous round's, not in the future.
    /// @param signature 65-byte r || s || v by the gateway's enclave signer over reportDigest with the
    ///        stored configHash (ConfigNotSet before the owner registers one).
    function transmit(uint80 roundId, int256 answer, uint64 observedAt, bytes calldata signature) external {
        if (gateway.paused()) revert GatewayPaused();
        bytes32 rules = configHash;
        if (rules == bytes32(0)) revert ConfigNotSet();
        uint80 expected = latestRound + 1;
        if (roundId != expected) revert UnexpectedRound(expected, roundId);
        uint64 previous = rounds[latestRound].observedAt;
        if (observedAt <= previous || observedAt > block.timestamp) {
            revert InvalidObservationTime(previous, observedAt);
        }
        address signer = EnclaveSignature.recover(reportDigest(roundId, answer, observedAt, rules), signature);
        if (signer != gateway.enclaveSigner()) revert NotEnclaveSigned(signer);
        rounds[roundId] = Round({answer: answer, observedAt: observedAt});
        latestRound = roundId;
        emit AnswerUpdated(answer, roundId, observedAt);
    }

    /// @inheritdoc AggregatorV3Interface
    function version() external pure override returns (uint256) {
        return VERSION;
    }

    /// @inheritdoc AggregatorV3Interface
    /// @dev Reverts NoDataPresent for a round that was never written, like Chainlink's aggregators.
    function getRoundData(uint80 _roundId)
        external
        view
        override
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        return _round(_roundId);
    }

    /// @inheritdoc AggregatorV3Interface
    function latestRoundData()
        external
        view
        override
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        return _round(latestRound);
    }

    function _round(uint80 id) internal view returns (uint80, int256, uint256, uint256, uint80) {
        Round storage r = rounds[id];
        if (r.observedAt == 0) revert NoDataPresent();
        return (id, r.answer, r.observedAt, r.observedAt, id);
    }
}
