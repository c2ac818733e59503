// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

import {AggregatorV3Interface} from "./AggregatorV3Interface.sol";
import {EnclaveSignature} from "./EnclaveSignature.sol";
import {INSLGateway} from "./INSLGateway.sol";

/// @title NSLPriceFeed: one price pair as a Chainlink AggregatorV3Interface, written by enclave-signed reports.
/// @notice Anyone may relay a report (transmit); it is accepted only if the gateway's current enclave key
///         signed it, its round id is the next one, and its observation time is after the previous round's
///         and not in the future. startedAt = updatedAt = the enclave's observation time, so a consumer's
///         staleness check measures the age of the price, not of the relaying transaction.
contract NSLPriceFeed is AggregatorV3Interface {
    /// Report format version; part of the digest tag.
    uint256 public constant VERSION = 1;
    bytes internal constant REPORT_TAG = "NSL-PRICE-V1";

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
    mapping(uint80 => Round) internal rounds;

    /// Chainlink's AggregatorInterface event, so existing indexers see the updates.
    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);

    error NoDataPresent();
    error UnexpectedRound(uint80 expected, uint80 got);
    error InvalidObservationTime(uint64 previous, uint64 got);
    error NotEnclaveSigned(address signer);
    error GatewayPaused();

    constructor(INSLGateway gateway_, uint8 decimals_, string memory description_) {
        gateway = gateway_;
        decimals = decimals_;
        description = description_;
    }

    /// @notice The digest the enclave signs for a report (see messages.price_report_digest in Python).
    function reportDigest(uint80 roundId, int256 answer, uint64 observedAt) public view returns (bytes32) {
        return keccak256(abi.encodePacked(REPORT_TAG, block.chainid, address(this), roundId, answer, observedAt));
    }

    /// @notice Record the next round from an enclave-signed report.
    /// @param roundId Must be latestRound + 1 (reports cannot be replayed, skipped or reordered).
    /// @param answer The price with `decimals` decimals.
    /// @param observedAt Unix time the enclave observed the price: after the previous round's, not in the future.
    /// @param signature 65-byte r || s || v by the gateway's enclave signer over reportDigest.
    function transmit(uint80 roundId, int256 answer, uint64 observedAt, bytes calldata signature) external {
        if (gateway.paused()) revert GatewayPaused();
        uint80 expected = latestRound + 1;
        if (roundId != expected) revert UnexpectedRound(expected, roundId);
        uint64 previous = rounds[latestRound].observedAt;
        if (observedAt <= previous || observedAt > block.timestamp) {
            revert InvalidObservationTime(previous, observedAt);
        }
        address signer = EnclaveSignature.recover(reportDigest(roundId, answer, observedAt), signature);
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
