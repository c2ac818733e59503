// SPDX-License-Identifier: MIT
pragma solidity ^0.8.0;

import {AggregatorV3Interface} from "./AggregatorV3Interface.sol";

/// @title PriceFeedConsumer: a consumer written against Chainlink's AggregatorV3Interface only, as in
///        Chainlink's "Using Data Feeds" guide; pointed at an NSLPriceFeed it works unchanged.
contract PriceFeedConsumer {
    AggregatorV3Interface internal immutable dataFeed;

    error StalePrice(uint256 updatedAt, uint256 maxAge);
    error InvalidPrice(int256 answer);

    constructor(address feed) {
        dataFeed = AggregatorV3Interface(feed);
    }

    /// @notice The latest answer, unchecked (Chainlink's getChainlinkDataFeedLatestAnswer).
    function getChainlinkDataFeedLatestAnswer() public view returns (int256) {
        // prettier-ignore
        (
            /* uint80 roundId */,
            int256 answer,
            /* uint256 startedAt */,
            /* uint256 updatedAt */,
            /* uint80 answeredInRound */
        ) = dataFeed.latestRoundData();
        return answer;
    }

    /// @notice The latest answer if positive and at most maxAge seconds old.
    function getCheckedPrice(uint256 maxAge) external view returns (int256 answer, uint256 updatedAt) {
        uint80 roundId;
        uint80 answeredInRound;
        (roundId, answer,, updatedAt, answeredInRound) = dataFeed.latestRoundData();
        if (answer <= 0 || answeredInRound < roundId) revert InvalidPrice(answer);
        if (updatedAt + maxAge < block.timestamp) revert StalePrice(updatedAt, maxAge);
    }

    /// @notice The answer of a past round.
    function getAnswerAt(uint80 roundId) external view returns (int256 answer) {
        (, answer,,,) = dataFeed.getRoundData(roundId);
    }

    function getDecimals() external view returns (uint8) {
        return dataFeed.decimals();
    }

    function getDescription() external view returns (string memory) {
        return dataFeed.description();
    }
}
