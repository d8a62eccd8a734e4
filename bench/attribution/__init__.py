"""Attribution: each implementation's split into the buckets, the ceilings and gains, the cross-checks."""
