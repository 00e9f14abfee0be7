"""Side effects: the six business functions behind flaky_call, and the activities that run them."""
