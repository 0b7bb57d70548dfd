"""Getting a portion: first-come booking over Redis stock, reservation numbers, pickup and
its redemption at the counter, household keys, and postal orders for what is sent."""
