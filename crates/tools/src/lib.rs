//! Bureau's built-in tools; each declares what it needs and never decides policy.
