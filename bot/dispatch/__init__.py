"""Small helpers of the dispatcher: per-room ordering, rate limiting, the users cache."""
