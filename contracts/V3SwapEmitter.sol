// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title V3SwapEmitter: emits exactly the Uniswap V3 pool `Swap` event layout, so the V3 decoding path can be
///        tested against a real node without deploying the V3 core. It is NOT a pool: values are the caller's.
contract V3SwapEmitter {
    address public token0;
    address public token1;

    constructor(address token0_, address token1_) {
        token0 = token0_;
        token1 = token1_;
    }

    event Swap(
        address indexed sender,
        address indexed recipient,
        int256 amount0,
        int256 amount1,
        uint160 sqrtPriceX96,
        uint128 liquidity,
        int24 tick
    );

    function emitSwap(address recipient, int256 amount0, int256 amount1, uint160 sqrtPriceX96, uint128 liquidity,
                      int24 tick) external {
        emit Swap(msg.sender, recipient, amount0, amount1, sqrtPriceX96, liquidity, tick);
    }
}
