"""A local dev node and traffic for it, for the tests, the benchmark and ``livefeed demo --chain``: ``anvil``
starts and stops a Foundry ``anvil`` process; ``traffic`` deploys the test contracts there and makes transfers and
swaps. Not used by the feed itself; submodules are imported directly (``traffic`` needs web3).
"""
