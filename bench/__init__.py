"""bench: the shared harness that proves every port equals upstream and measures what each buys."""
